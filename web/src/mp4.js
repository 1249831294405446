// Just enough ISO BMFF reading for the live player's clock: the video
// track's id and timescale from the init segment (moov/trak/tkhd, mdhd,
// hdlr), a fragment's decode time (moof/traf/tfhd + tfdt) and the wall
// clock the server stated for it (a top-level prft before the moof).
// Bounded: a box that claims to run past its parent ends the walk.

function* boxes(view, start, end) {
  let pos = start;
  while (pos + 8 <= end) {
    let size = view.getUint32(pos);
    const type = String.fromCharCode(
      view.getUint8(pos + 4), view.getUint8(pos + 5), view.getUint8(pos + 6), view.getUint8(pos + 7));
    let header = 8;
    if (size === 1) {
      if (pos + 16 > end) return;
      size = Number(view.getBigUint64(pos + 8));
      header = 16;
    } else if (size === 0) size = end - pos;
    if (size < header || pos + size > end) return;
    yield { type, start: pos + header, end: pos + size };
    pos += size;
  }
}

const child = (view, box, type) => {
  for (const b of boxes(view, box.start, box.end)) if (b.type === type) return b;
  return null;
};

// {trackId, timescale} of the first video track of an init segment, or null.
export function readInit(buffer) {
  const view = new DataView(buffer);
  for (const top of boxes(view, 0, view.byteLength)) {
    if (top.type !== "moov") continue;
    for (const trak of boxes(view, top.start, top.end)) {
      if (trak.type !== "trak") continue;
      const tkhd = child(view, trak, "tkhd");
      const mdia = child(view, trak, "mdia");
      const mdhd = mdia && child(view, mdia, "mdhd");
      const hdlr = mdia && child(view, mdia, "hdlr");
      if (!tkhd || !mdhd || !hdlr || hdlr.start + 12 > hdlr.end) continue;
      const handler = String.fromCharCode(...new Uint8Array(buffer, hdlr.start + 8, 4));
      if (handler !== "vide") continue;
      const v1 = view.getUint8(tkhd.start) === 1;
      const idAt = tkhd.start + (v1 ? 20 : 12);
      const scaleAt = mdhd.start + (view.getUint8(mdhd.start) === 1 ? 20 : 12);
      if (idAt + 4 > tkhd.end || scaleAt + 4 > mdhd.end) continue;
      return { trackId: view.getUint32(idAt), timescale: view.getUint32(scaleAt) };
    }
  }
  return null;
}

// The decode time (in the track's timescale) of trackId in a moof+mdat
// fragment, or null when the fragment has no such track.
export function readFragmentTime(buffer, trackId) {
  const view = new DataView(buffer);
  for (const top of boxes(view, 0, view.byteLength)) {
    if (top.type !== "moof") continue;
    for (const traf of boxes(view, top.start, top.end)) {
      if (traf.type !== "traf") continue;
      const tfhd = child(view, traf, "tfhd");
      const tfdt = child(view, traf, "tfdt");
      if (!tfhd || !tfdt || tfhd.start + 8 > tfhd.end) continue;
      if (view.getUint32(tfhd.start + 4) !== trackId) continue;
      const v1 = view.getUint8(tfdt.start) === 1;
      if (tfdt.start + (v1 ? 12 : 8) > tfdt.end) return null;
      return v1 ? Number(view.getBigUint64(tfdt.start + 4)) : view.getUint32(tfdt.start + 4);
    }
  }
  return null;
}

// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_S = 2208988800;

// The ProducerReferenceTimeBox (ISO/IEC 14496-12 8.16.5) for trackId in a
// fragment message: {wallMs (the NTP timestamp as Unix milliseconds),
// mediaTime (in the track's timescale)}, or null when there is none.
export function readProducerTime(buffer, trackId) {
  const view = new DataView(buffer);
  for (const top of boxes(view, 0, view.byteLength)) {
    if (top.type === "moof") break; // a prft belongs before its moof
    if (top.type !== "prft") continue;
    const v1 = view.getUint8(top.start) === 1;
    if (top.start + (v1 ? 24 : 20) > top.end) return null;
    if (view.getUint32(top.start + 4) !== trackId) continue;
    const seconds = view.getUint32(top.start + 8), fraction = view.getUint32(top.start + 12);
    const wallMs = (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction / 2 ** 32) * 1000;
    const mediaTime = v1 ? Number(view.getBigUint64(top.start + 16)) : view.getUint32(top.start + 16);
    return { wallMs, mediaTime };
  }
  return null;
}

// An independent ONVIF client (npm "onvif") against a simulated camsim
// device: connect, device information, profiles, stream URI, PTZ
// (absolute move, then status), events (PullPoint) and discovery over
// loopback. Prints one JSON line with what it saw; the pytest asserts on it.
// usage: node check_device.js HOST PORT USER PASSWORD
const onvif = require('onvif');
const [host, port, user, pass] = process.argv.slice(2);
const out = {};
const done = (err) => {
  if (err) out.error = String(err.message || err);
  console.log(JSON.stringify(out));
  process.exit(0);
};
setTimeout(() => done('timeout'), 20000);
onvif.Discovery.probe({timeout: 1500, resolve: false, device: 'lo'}, (err, list) => {
  out.discovered = (list || []).map((m) => m.probeMatches.probeMatch.XAddrs);
  const cam = new onvif.Cam({hostname: host, port: Number(port), username: user, password: pass, timeout: 5000},
    function (err) {
      if (err) return done(err);
      out.media2 = this.media2Support;
      out.profiles = this.profiles.map((p) => p.$.token);
      this.getDeviceInformation((err, info) => {
        if (err) return done(err);
        out.manufacturer = info.manufacturer;
        out.model = info.model;
        this.getStreamUri({protocol: 'RTSP'}, (err, s) => {
          if (err) return done(err);
          out.stream_uri = s.uri;
          this.absoluteMove({x: 0.5, y: -0.25, zoom: 0.3}, (err) => {
            if (err) return done(err);
            this.getStatus({}, (err, st) => {
              if (err) return done(err);
              out.position = st.position;
              this.createPullPointSubscription((err) => {
                if (err) return done(err);
                this.pullMessages({timeout: 4000, messageLimit: 5}, (err, m) => {
                  if (err) return done(err);
                  const msgs = [].concat(m.notificationMessage || []);
                  out.event_topics = msgs.map((n) => n.topic._);
                  done();
                });
              });
            });
          });
        });
      });
    });
});

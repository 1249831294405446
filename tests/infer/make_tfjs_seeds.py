#!/usr/bin/env python3
"""Writes small TF.js graph models as fuzz seeds for tests/fuzz/fuzz_tfjs.c.

Each seed is: 4-byte little-endian length of model.json, model.json, weights.
The graphs use the ops NanoDet and CenterNet use, at toy sizes."""
import base64, json, os, struct, sys

def b64(s):
    return base64.b64encode(s.encode()).decode()

def f32(vals):
    return struct.pack('<%df' % len(vals), *vals)

def i32(vals):
    return struct.pack('<%di' % len(vals), *vals)

def f16(vals):
    return struct.pack('<%de' % len(vals), *vals)

def model(nodes, weights, outputs):
    specs, blob = [], b''
    for name, shape, dtype, data, quant in weights:
        spec = {'name': name, 'shape': shape, 'dtype': dtype}
        if quant:
            spec['quantization'] = {'dtype': 'float16', 'original_dtype': 'float32'}
        specs.append(spec)
        blob += data
    consts = [{'name': w[0], 'op': 'Const', 'attr': {'dtype': {'type': 'DT_FLOAT' if w[2] == 'float32' else 'DT_INT32'}}}
              for w in weights]
    j = {'format': 'graph-model', 'modelTopology': {'node': consts + nodes},
         'weightsManifest': [{'paths': ['w.bin'], 'weights': specs}],
         'signature': {'outputs': {o: {'name': o + ':0'} for o in outputs}}}
    text = json.dumps(j).encode()
    return struct.pack('<I', len(text)) + text + blob

def placeholder(name, dims):
    return {'name': name, 'op': 'Placeholder',
            'attr': {'dtype': {'type': 'DT_FLOAT'}, 'shape': {'shape': {'dim': [{'size': str(d)} for d in dims]}}}}

def conv(name, x, w, op='Conv2D', padding='SAME', strides=(1, 1), fused=None, extra=None):
    attr = {'padding': {'s': b64(padding)}, 'strides': {'list': {'i': ['1', str(strides[0]), str(strides[1]), '1']}},
            'data_format': {'s': b64('NHWC')}, 'dilations': {'list': {'i': ['1', '1', '1', '1']}}}
    inputs = [x, w]
    if fused:
        attr['fused_ops'] = {'list': {'s': [b64(f) for f in fused]}}
        attr['num_args'] = {'i': '1'}
        inputs.append(extra)
    return {'name': name, 'op': op, 'input': inputs, 'attr': attr}

seeds = {}
# NanoDet-like: NCHW input, transposes, pad, conv, bias, leaky relu, concat, resize, split.
seeds['nanodet_like'] = model(
    [placeholder('x', [1, 2, 4, 4]),
     {'name': 'pad', 'op': 'Pad', 'input': ['x', 'pads']},
     {'name': 't1', 'op': 'Transpose', 'input': ['pad', 'perm_nhwc']},
     conv('c1', 't1', 'w1', padding='VALID'),
     {'name': 'b1', 'op': 'Add', 'input': ['c1', 'bias']},
     {'name': 't2', 'op': 'Transpose', 'input': ['b1', 'perm_nchw']},
     {'name': 'lr', 'op': 'LeakyRelu', 'input': ['t2'], 'attr': {'alpha': {'f': 0.1}}},
     {'name': 'cat', 'op': 'ConcatV2', 'input': ['lr', 'lr', 'axis1']},
     {'name': 't3', 'op': 'Transpose', 'input': ['cat', 'perm_nhwc']},
     {'name': 'rs', 'op': 'ResizeBilinear', 'input': ['t3', 'size'],
      'attr': {'half_pixel_centers': {'b': True}, 'align_corners': {'b': False}}},
     {'name': 'sp', 'op': 'SplitV', 'input': ['rs', 'sizes', 'axis3'], 'attr': {'num_split': {'i': '2'}}},
     {'name': 'sg', 'op': 'Sigmoid', 'input': ['sp']},
     {'name': 'rh', 'op': 'Reshape', 'input': ['sp:1', 'shape']},
     {'name': 'out0', 'op': 'Identity', 'input': ['sg']},
     {'name': 'out1', 'op': 'Identity', 'input': ['rh']}],
    [('pads', [4, 2], 'int32', i32([0, 0, 0, 0, 1, 1, 1, 1]), False),
     ('perm_nhwc', [4], 'int32', i32([0, 2, 3, 1]), False),
     ('perm_nchw', [4], 'int32', i32([0, 3, 1, 2]), False),
     ('w1', [3, 3, 2, 2], 'float32', f16([0.1 * i for i in range(36)]), True),
     ('bias', [2], 'float32', f32([0.5, -0.5]), False),
     ('axis1', [], 'int32', i32([1]), False),
     ('size', [2], 'int32', i32([8, 8]), False),
     ('sizes', [2], 'int32', i32([1, 3]), False),
     ('axis3', [], 'int32', i32([3]), False),
     ('shape', [3], 'int32', i32([1, -1, 3]), False)],
    ['out0', 'out1'])
# CenterNet-like: fused convs, depthwise, hard-swish, mean, max pool, top-k, gather.
seeds['centernet_like'] = model(
    [placeholder('img', [1, 4, 4, 3]),
     conv('fc', 'img', 'w2', op='_FusedConv2D', fused=['BiasAdd', 'Relu'], extra='b2'),
     conv('dw', 'fc', 'wd', op='FusedDepthwiseConv2dNative', fused=['BiasAdd'], extra='b2'),
     {'name': 'm1', 'op': 'Mul', 'input': ['s6', 'dw']},
     {'name': 'a3', 'op': 'Add', 'input': ['dw', 'three']},
     {'name': 'r6', 'op': 'Relu6', 'input': ['a3']},
     {'name': 'hs', 'op': 'Mul', 'input': ['m1', 'r6']},
     {'name': 'mean', 'op': 'Mean', 'input': ['hs', 'hw'], 'attr': {'keep_dims': {'b': True}}},
     {'name': 'se', 'op': 'Mul', 'input': ['hs', 'mean']},
     {'name': 'mp', 'op': 'MaxPool', 'input': ['se'],
      'attr': {'ksize': {'list': {'i': ['1', '3', '3', '1']}}, 'strides': {'list': {'i': ['1', '1', '1', '1']}},
               'padding': {'s': b64('SAME')}}},
     {'name': 'eq', 'op': 'Equal', 'input': ['se', 'mp']},
     {'name': 'cast', 'op': 'Cast', 'input': ['eq'], 'attr': {'DstT': {'type': 'DT_FLOAT'}, 'SrcT': {'type': 'DT_BOOL'}}},
     {'name': 'peaks', 'op': 'Mul', 'input': ['se', 'cast']},
     {'name': 'flat', 'op': 'Reshape', 'input': ['peaks', 'flat_shape']},
     {'name': 'topk', 'op': 'TopKV2', 'input': ['flat', 'k']},
     {'name': 'div', 'op': 'FloorDiv', 'input': ['topk:1', 'c2']},
     {'name': 'mod', 'op': 'FloorMod', 'input': ['topk:1', 'c2']},
     {'name': 'g', 'op': 'GatherV2', 'input': ['flat2', 'div', 'axis0']},
     {'name': 'ss', 'op': 'StridedSlice', 'input': ['g', 'b0', 'e0', 's0'],
      'attr': {'begin_mask': {'i': '1'}, 'end_mask': {'i': '1'}}},
     {'name': 'ed', 'op': 'ExpandDims', 'input': ['mod', 'axis0']},
     {'name': 'det', 'op': 'Identity', 'input': ['ss']},
     {'name': 'idx', 'op': 'Identity', 'input': ['ed']}],
    [('w2', [1, 1, 3, 2], 'float32', f32([0.1, -0.2, 0.3, 0.4, -0.5, 0.6]), False),
     ('b2', [2], 'float32', f32([0.1, 0.2]), False),
     ('wd', [3, 3, 2, 1], 'float32', f32([0.05 * i for i in range(18)]), False),
     ('s6', [], 'float32', f16([1 / 6]), True),
     ('three', [], 'float32', f32([3.0]), False),
     ('hw', [2], 'int32', i32([1, 2]), False),
     ('flat_shape', [2], 'int32', i32([1, -1]), False),
     ('k', [], 'int32', i32([4]), False),
     ('c2', [], 'int32', i32([2]), False),
     ('flat2', [16, 2], 'float32', f32([0.01 * i for i in range(32)]), False),
     ('axis0', [], 'int32', i32([0]), False),
     ('b0', [2], 'int32', i32([0, 1]), False),
     ('e0', [2], 'int32', i32([0, 2]), False),
     ('s0', [2], 'int32', i32([1, 1]), False)],
    ['det', 'idx'])
# Malformed on purpose: an unknown op, a missing constant, weights too short.
seeds['unknown_op'] = model([placeholder('x', [1, 2]), {'name': 'y', 'op': 'NoSuchOp', 'input': ['x']}], [], ['y'])
seeds['short_weights'] = model([placeholder('x', [1, 2]), {'name': 'y', 'op': 'Add', 'input': ['x', 'c']}],
                               [('c', [2], 'float32', f32([1.0]), False)], ['y'])

out = sys.argv[1] if len(sys.argv) > 1 else 'tests/fuzz/corpus/fuzz_tfjs'
os.makedirs(out, exist_ok=True)
for k, v in seeds.items():
    with open(os.path.join(out, k), 'wb') as f:
        f.write(v)

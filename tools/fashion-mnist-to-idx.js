// Converts the fashion-mnist npm package's per-class JSON files into the
// four standard IDX files (see tools/fetch-fashion-mnist for the split).
// usage: node fashion-mnist-to-idx.js CLOTHES_DIR OUT_DIR
'use strict';
const fs = require('fs');
const path = require('path');

const [clothes, out] = process.argv.slice(2);
const SIZE = 28 * 28, PER_CLASS = 7000, TRAIN = 6000;

const classes = [];
for (let c = 0; c < 10; c++) {
  const all = JSON.parse(fs.readFileSync(path.join(clothes, c + '.json'))).data;
  const images = all.filter((im) => im.length === SIZE);
  if (images.length < PER_CLASS) throw new Error(`class ${c}: only ${images.length} images`);
  classes.push(images.slice(0, PER_CLASS));
}

function idx(dims, bytes) {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header.writeUInt8(0x08, 2);
  header.writeUInt8(dims.length, 3);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, bytes]);
}

function write(prefix, from, to) {
  const count = (to - from) * 10;
  const images = Buffer.alloc(count * SIZE), labels = Buffer.alloc(count);
  let k = 0;
  for (let i = from; i < to; i++)
    for (let c = 0; c < 10; c++, k++) {
      Buffer.from(classes[c][i]).copy(images, k * SIZE);
      labels[k] = c;
    }
  fs.writeFileSync(path.join(out, `${prefix}-images-idx3-ubyte`), idx([count, 28, 28], images));
  fs.writeFileSync(path.join(out, `${prefix}-labels-idx1-ubyte`), idx([count], labels));
  console.log(`wrote ${count} images to ${path.join(out, prefix + '-*-ubyte')}`);
}

write('train', 0, TRAIN);
write('t10k', TRAIN, PER_CLASS);

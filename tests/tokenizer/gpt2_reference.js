// Encodes texts with gpt-3-encoder's own Encoder.js (the GPT-2 reference).
//   node gpt2_reference.js ENCODER_DIR TEXTS.json OUT.json [--fixed-pair-keys]
//
// Encoder.js keys its merge ranks by the pair array converted to a string,
// i.e. "left,right"; pairs whose parts contain commas can then collide
// ("a," + "b" and "a" + ",b" both give "a,,b"). --fixed-pair-keys runs the
// same unmodified file with Array.prototype.toString joining by a space
// (no token contains a space), which gives every pair its own key. The test
// uses that run only to explain differences, never to replace the reference.
const fs = require('fs');
const path = require('path');

const [dir, textsPath, outPath, ...flags] = process.argv.slice(2);
if (!dir || !textsPath || !outPath) {
  console.error('usage: node gpt2_reference.js ENCODER_DIR TEXTS.json OUT.json [--fixed-pair-keys]');
  process.exit(2);
}
if (flags.includes('--fixed-pair-keys')) {
  // Must be in place before Encoder.js builds its rank table at load time.
  Array.prototype.toString = function () { return this.join(' '); };
}
const encoder = require(path.resolve(dir, 'Encoder.js'));
const texts = JSON.parse(fs.readFileSync(textsPath, 'utf-8'));
const out = texts.map((t) => encoder.encode(t));
fs.writeFileSync(outPath, JSON.stringify(out));

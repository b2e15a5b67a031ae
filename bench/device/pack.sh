#!/usr/bin/env bash
# Packs the Node kernel benchmark (bench/kernels-node.ts) for a GPU machine that has no Node.js, no browser and
# no network (the device machines of docs/benchmarks.md "Kernels on a real GPU") into .device/ (git-ignored):
#   .device/bundle.tar.xz   node binary + kernels-node.mjs (esbuild bundle) + node_modules/{webgpu (linux-x64 only),
#                           onnxruntime-node (linux x64 only), onnxruntime-common}, xz-compressed (~40 MB)
#   .device/gl/*.deb        the Vulkan loader (libvulkan1), unpacked there only if the machine has none
#   .device/run.sh          a copy of bench/device/run.sh: unpack, check the GPU, run the bench, write under $OUT
# Usage: bash bench/device/pack.sh   (then carry `.device` and run `bash .device/run.sh`; see run.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
dev=.device
exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
grep -qx '/.device/' "$exclude" 2>/dev/null || echo '/.device/' >>"$exclude"
rm -rf "$dev"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$dev/gl" "$stage/bin" "$stage/node_modules"

# The bench as one ES module; the two native packages stay external (they load .node binaries by path).
# The banner gives bundled CommonJS (onnx-proto, protobufjs) a `require` for Node's built-in modules.
node_modules/.bin/esbuild bench/kernels-node.ts --bundle --platform=node --format=esm --target=node20 \
  --external:webgpu --external:onnxruntime-node --log-level=warning --outfile="$stage/kernels-node.mjs" \
  --banner:js="import { createRequire as __webqCreateRequire } from 'node:module'; const require = __webqCreateRequire(import.meta.url);"

cp "$(command -v node)" "$stage/bin/node"
m=node_modules
mkdir -p "$stage/$m/webgpu/dist" "$stage/$m/onnxruntime-node/dist" "$stage/$m/onnxruntime-node/bin/napi-v6/linux" "$stage/$m/onnxruntime-common/dist"
cp $m/webgpu/package.json $m/webgpu/index.js "$stage/$m/webgpu/"
cp -r $m/webgpu/dist/linux-x64 "$stage/$m/webgpu/dist/"
cp $m/onnxruntime-node/package.json "$stage/$m/onnxruntime-node/"
cp $m/onnxruntime-node/dist/*.js "$stage/$m/onnxruntime-node/dist/"
cp -r $m/onnxruntime-node/bin/napi-v6/linux/x64 "$stage/$m/onnxruntime-node/bin/napi-v6/linux/"
cp $m/onnxruntime-common/package.json "$stage/$m/onnxruntime-common/"
cp -r $m/onnxruntime-common/dist/cjs $m/onnxruntime-common/dist/esm "$stage/$m/onnxruntime-common/dist/"
find "$stage/$m" \( -name '*.map' -o -name '*.d.ts' \) -delete
tar -C "$stage" -cf - . | xz -9e -T0 >"$dev/bundle.tar.xz"

# The Vulkan loader and glvnd as .debs for x86-64 (the device README's recipe; the NVIDIA ICD needs glvnd).
lists=$(mktemp -d)
o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
mkdir -p "$lists/partial"
apt-get $o update >/dev/null
(cd "$dev/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 2>/dev/null)
rm -rf "$lists"

cp bench/device/run.sh "$dev/run.sh"
du -sh "$dev"/* "$dev"
echo "tracked + untracked files that travel with it: $(git ls-files -co --exclude-standard -z | du -cb --files0-from=- | tail -1 | cut -f1) bytes (limit 64 MiB together)"

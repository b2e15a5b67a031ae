#!/usr/bin/env bash
# Runs on the device machine (bench/device/pack.sh copies it to .device/run.sh): unpacks .device/bundle.tar.xz
# to /tmp, brings the Vulkan loader if missing, points the loader at the NVIDIA driver, prints the GPU, then runs
# the kernel benchmark with the full shapes and writes kernels-nvidia.{json,md} (+ -quantize.json, -meta.json),
# nvidia-smi.csv and run.log under $OUT. Aborts unless Dawn's adapter is the NVIDIA GPU.
#   bash .device/run.sh [extra bench options, e.g. --deadline-s 300 or --quick]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-/tmp/webq-out}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
t0=$(date +%s)
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,clocks.max.memory --format=csv | tee "$OUT/nvidia-smi.csv"
gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
w=/tmp/webq-bench
rm -rf "$w" && mkdir -p "$w"
xz -dc "$here/bundle.tar.xz" | tar -xf - -C "$w" || { echo "unpack failed"; exit 2; }
echo "unpacked in $(( $(date +%s) - t0 )) s: $("$w/bin/node" --version)"
# The device README's recipe: the Vulkan loader plus glvnd (the NVIDIA ICD, libGLX_nvidia.so.0, needs libGLdispatch).
for f in "$here"/gl/*.deb; do dpkg -x "$f" /; done
ldconfig
echo "unpacked $(ls "$here"/gl | wc -l) loader packages from $here/gl"
# Which Vulkan driver setup gives Dawn the NVIDIA adapter: probe (about a second each) and keep the first that does.
cat >"$w/probe.mjs" <<'JS'
import { create } from './node_modules/webgpu/index.js';
const gpu = create([]);
const a = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const i = a?.info;
const name = a ? [i.vendor, i.architecture, i.device, i.description].filter(Boolean).join(' / ') : 'no adapter';
console.log(`probe: ${name}`);
process.exit(/nvidia/i.test(name) ? 0 : 1);
JS
echo "GLX_nvidia: $(ldconfig -p | grep -c libGLX_nvidia) in ldconfig; missing deps: $(for l in $(ldconfig -p | awk '/libGLX_nvidia.so.0|libnvidia-glcore/ {print $NF}'); do ldd "$l" | grep 'not found'; done | sort -u | tr '\n' ' ')"
icds="/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json $(find /usr /etc /opt -name 'nvidia_icd*.json' 2>/dev/null | sort -u | tr '\n' ' ')"
found=
for icd in "" $icds; do
  if [ -n "$icd" ] && [ ! -f "$icd" ]; then continue; fi
  if [ -n "$icd" ]; then export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; else unset VK_DRIVER_FILES VK_ICD_FILENAMES; fi
  echo "try Vulkan ICD: ${icd:-loader default}"
  if (cd "$w" && timeout 60 "$w/bin/node" probe.mjs); then found=1; break; fi
done
[ -n "$found" ] || { echo "no NVIDIA adapter in any setup"; ls -la /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1; cat /usr/local/nvidia/share/vulkan/icd.d/*.json 2>&1; exit 3; }
cd "$w"
"$w/bin/node" "$w/kernels-node.mjs" --out "$OUT" --name kernels-nvidia --require-adapter nvidia --gpu-name "$gpu_name" --deadline-s 330 "$@"
rc=$?
echo "bench exit $rc after $(( $(date +%s) - t0 )) s"
ls -la "$OUT"
exit $rc

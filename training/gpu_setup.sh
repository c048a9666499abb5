# Sourced by the gpu_*.sh scripts, after they set W (work folder) and OUT: diffusers from the carried wheel where the
# machine lacks it, the stage clock `el`, and what the machine is ($W/env.txt).
WHEELS=${WHEELS:-.whl}
if [ -d "$WHEELS" ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl \
    && export PYTHONPATH=/tmp/site:. || exit 1
fi
export PYTHONPATH=${PYTHONPATH:-.}
T0=$(date +%s); el() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a $W/stages.txt; }
(nvidia-smi --query-gpu=name,memory.total --format=csv; python3 -c "import torch, diffusers; print(torch.__version__, diffusers.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())") > $W/env.txt 2>&1

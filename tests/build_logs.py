"""Long pip build logs for explain's bounds: the shape of a real verbose build (pip install -v mamba-ssm: the build's
ninja and nvcc lines and nvcc's warnings streamed before pip names the step), the decisive error in the middle, any size."""
from __future__ import annotations

HEAD = """\
Using pip 24.0 from /usr/local/lib/python3.10/dist-packages/pip (python 3.10)
Collecting mamba-ssm
  Downloading mamba_ssm-2.2.4.tar.gz (91 kB)
  Running command python setup.py egg_info
  Preparing metadata (setup.py) ... done
Building wheels for collected packages: mamba-ssm
  Running command python setup.py bdist_wheel
  torch.__version__  = 2.6.0+cu124
  running bdist_wheel
  Emitting ninja build file /tmp/pip-install-k2/mamba-ssm/build/temp.linux-x86_64-cpython-310/build.ninja...
"""
NVCC = ("  [{n}/9216] /usr/local/cuda/bin/nvcc --generate-dependencies-with-compile -I/tmp/pip-install-k2/mamba-ssm/csrc/"
        "selective_scan -I/usr/local/lib/python3.10/dist-packages/torch/include -I/usr/include/python3.10 -c /tmp/pip-install-k2/"
        "mamba-ssm/csrc/selective_scan/selective_scan_fwd_fp{k}.cu -o build/temp.linux-x86_64-cpython-310/csrc/selective_scan/"
        "selective_scan_fwd_fp{k}.o -D__CUDA_NO_HALF_OPERATORS__ -O3 -std=c++17 -gencode arch=compute_80,code=sm_80 --use_fast_math\n")
WARNING = ("  /tmp/pip-install-k2/mamba-ssm/csrc/selective_scan/selective_scan_fwd_kernel.cuh({n}): warning #177-D: "
           "variable \"kNRows\" was declared but never referenced\n")
DECISIVE = "  /usr/local/cuda/include/ATen/cuda/CUDAContext.h:6:22: fatal error: cusparse.h: No such file or directory\n"
END = """\
  ninja: build stopped: subcommand failed.
  Traceback (most recent call last):
    File "/usr/local/lib/python3.10/dist-packages/torch/utils/cpp_extension.py", line 2107, in _run_ninja_build
      subprocess.run(
  subprocess.CalledProcessError: Command '['ninja', '-v', '-j', '16']' returned non-zero exit status 1.
  RuntimeError: Error compiling objects for extension
  error: subprocess-exited-with-error
  × python setup.py bdist_wheel did not run successfully.
  │ exit code: 1
  ╰─> See above for output.
  Building wheel for mamba-ssm (setup.py) ... error
  ERROR: Failed building wheel for mamba-ssm
Failed to build mamba-ssm
"""
CAUSE = "cusparse_missing"  # what DECISIVE names


def write_build_log(out, size: int, middle: str = DECISIVE, quiet: str = "") -> None:
    """Write about ``size`` bytes of build log to the text stream ``out``: ``middle`` halfway, ``quiet`` (a line with no
    error mark) a quarter of the way in."""
    out.write(HEAD)
    written, n = len(HEAD), 0
    placed_quiet = placed_middle = False
    while written < size - len(END):
        n += 1
        line = WARNING.format(n=n) if n % 3 == 0 else NVCC.format(n=n, k=n % 32)
        if not placed_quiet and quiet and written >= size // 4:
            line, placed_quiet = quiet, True
        elif not placed_middle and written >= size // 2:
            line, placed_middle = middle, True
        out.write(line)
        written += len(line)
    out.write(END)

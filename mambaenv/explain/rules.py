"""The known causes of mamba_ssm / causal_conv1d failures, as data: one row per error family.

Each row: the cause id, a pattern for the failing step's own error text, the conditions under which
the row applies, the summary, the fix, and fixes that replace it under a condition. Rows are
ordered most specific first; the engine (mambaenv.explain) ranks matches by where they matched
(the decisive error line beats the step's output, which beats the rest of the log), then by weight,
then by order here. Conditions are names of predicates in mambaenv.explain.CONDITIONS.
"""
from __future__ import annotations

from dataclasses import dataclass

from mambaenv.packages import extension_owner

# Both packages' extension modules; several rows name them.
EXT = rf"(?:{'|'.join(extension_owner())}|selective_scan_cuda_oflex|causal_conv1d_cuda_\w{1,200})"  # and their variants
PKG = r"(?:mamba[-_]ssm|causal[-_]conv1d)"
NO_NVCC = (r"bare_metal_version' is not defined|CUDA_HOME environment variable is not set|nvcc was not found|"
           r"No such file or directory: '[^']{0,300}nvcc'|nvcc: (?:command )?not found|only supported on CUDA 11\.6 and above|"
           r"Cannot find CUDA_HOME|CUDA_HOME is not set")


@dataclass(frozen=True)
class Rule:
    cause: str
    pattern: str
    summary: str
    fix: str
    when: tuple[str, ...] = ()  # every condition must hold
    weight: float = 1.0  # how much one match says; a weak pattern says less
    fixes: tuple[tuple[str, str], ...] = ()  # (condition, fix): the first that holds replaces ``fix``
    where: str = "log"  # "log": decisive line > step > anywhere; "tail": only the end of a log that is still running


RULES: tuple[Rule, ...] = (
    # --- what was built or downloaded is incomplete ---------------------------------------------
    Rule("sdist_missing_csrc",
         r"No such file or directory: '[^']{0,300}csrc/[^']{1,300}'|csrc/\S{1,300}', needed by .{0,300}missing and no known rule|"
         r"csrc/\S{1,300}\.(?:cu|cpp|h)\S{0,300}: No such file or directory|Could not open input file \S{0,300}csrc/",
         "the source distribution has no csrc/ folder (old sdists shipped without the CUDA/C++ sources), so nothing can be compiled",
         "do not build that sdist: install a prebuilt wheel (mambaenv resolve / install), or a newer release's sdist, "
         "or build from a git checkout of the tag (mambaenv build --sdist FILE)"),
    Rule("source_checkout_shadowing",
         r"(?:ImportError|OSError): (?![^\n]{0,500}(?:site|dist)-packages)[^\n]{0,500}/" + EXT + r"\.[^\n]{0,100}\.so: undefined symbol",
         "the extension was loaded from a mamba source checkout (the current folder or sys.path), not from the installed "
         "package, and that local build does not match this torch",
         "run from outside the source checkout (or delete its in-place built *.so files) so the installed package is imported; "
         "if the installed one also fails, reinstall it with mambaenv install",
         when=("from_checkout",)),
    Rule("source_checkout_shadowing",
         rf"No module named '?(?:{'|'.join(extension_owner())})'?",
         "the package was imported from a source checkout whose CUDA extension was never built; it shadows the installed package",
         "run from outside the checkout (cd elsewhere, or remove it from PYTHONPATH) so the installed package is imported",
         when=("from_checkout",)),
    # --- installing a wheel file ----------------------------------------------------------------
    Rule("wheel_not_supported",
         r"is not a supported wheel on this platform",
         "pip refused the wheel file by its name alone: one of its tags (Python cpXY, platform, manylinux glibc) does not match "
         "this env, or the name was mangled when the file was saved or renamed",
         "take the file whose tags match this env: cpXY is its Python (cp312 = 3.12), linux_x86_64/manylinux for Linux, "
         "win_amd64 for Windows, manylinux_2_NN needs glibc 2.NN or newer; mambaenv resolve names the right file and "
         "mambaenv install --offline-wheel FILE checks one before installing"),
    # --- the download that setup.py does ------------------------------------------------------
    Rule("wheel_url_invalid_version",
         r"InvalidVersion: Invalid version: '[^'\n]{0,200}'",
         "setup.py's guess of the prebuilt wheel's URL parses this torch's (or its CUDA's) version, and a vendor or custom "
         "build's version string is not a valid version, so the install stops before it could build",
         "skip the guess: MAMBA_FORCE_BUILD=TRUE (causal-conv1d: CAUSAL_CONV1D_FORCE_BUILD=TRUE) pip install "
         "--no-build-isolation mamba-ssm builds against this env's torch; or install a prebuilt wheel file (mambaenv install)",
         when=("wheel_guess",)),
    Rule("ssl_untrusted_ca",
         r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLCertVerificationError|self[- ]signed certificate in certificate chain|"
         r"unable to get local issuer certificate|invalid peer certificate: UnknownIssuer",
         "the TLS certificate of the download server is not trusted here: a proxy or firewall re-signs HTTPS with its own "
         "CA that Python does not know (retrying will not help)",
         "point Python at your organisation's CA bundle: export REQUESTS_CA_BUNDLE=/path/ca.pem SSL_CERT_FILE=/path/ca.pem "
         "(pip: --cert; uv: --native-tls), then mambaenv download / install, which use it"),
    Rule("download_failed",
         r"urlopen error|retrieval incomplete|Remote end closed connection|Connection reset by peer|Read timed out|"
         r"Connection timed out|ConnectionResetError|IncompleteRead|ReadTimeoutError|Max retries exceeded|NewConnectionError|"
         r"Temporary failure in name resolution|Network is unreachable|ProxyError|ContentTooShortError",
         "a download failed on the network (setup.py's one-shot download of the prebuilt wheel, or pip's own), not the build",
         "mambaenv download (resumable, mirrors, proxies) then mambaenv install --offline-wheel FILE; or open the URL from "
         "mambaenv resolve in a browser"),
    # --- Triton (the Mamba2 path JIT-compiles with Triton) -------------------------------------
    Rule("triton_ptxas_too_old",
         r"ptxas(?:-blackwell)?(?:\.exe)? fatal\s{0,20}: Value 'sm_\w{1,20}' is not defined for option 'gpu-name'",
         "Triton compiles its kernels with the ptxas it bundles, which is older than this GPU (sm_110/sm_121 need CUDA 13's)",
         "point Triton at a newer CUDA toolkit's ptxas: export TRITON_PTXAS_PATH=/usr/local/cuda/bin/ptxas (CUDA 13.0 or "
         "newer), or upgrade triton to a release that knows this GPU"),
    Rule("windows_native",
         r"No matching distribution found for triton\b|Could not find a version that satisfies the requirement triton\b|"
         r"DLL load failed while importing (?:libtriton|cuda_utils|__triton_launcher)",
         "native Windows: upstream has no Windows wheels and no official Triton, and the Linux kernels' build does not "
         "compile there",
         "use WSL2 (Ubuntu) with the Linux wheels (mambaenv install there); natively, conda-forge has win-64 builds (conda "
         "install -c conda-forge mamba-ssm causal-conv1d); the triton-windows fork needs the CUDA toolkit of torch's CUDA "
         "version and the MSVC runtime (vcruntime140.dll)",
         when=("windows",)),
    Rule("bf16_pre_ampere",
         r"Feature '[^']{0,300}bf16[^']{0,300}' requires \.?target sm_80|bf16[^\n]{0,300}requires[^\n]{0,300}sm_80|"
         r"Bfloat16 is only supported on GPUs with compute capability of at least 8\.0|bf16 is not supported on this GPU|"
         r"bf16[^\n]{0,300}compute capability (?:of at least |>= ?)8",
         "this GPU is older than Ampere (sm_80) and has no bfloat16: the kernels were asked for bf16 (not a Triton version problem)",
         "run the model in float16 or float32 (torch_dtype=torch.float16), or use an sm_80+ GPU"),
    Rule("triton_old_gpu",
         r"IndexError: map::at|too old to be supported by the triton GPU compiler|"
         r"Triton only supports devices of CUDA Capability >= \d",
         "this GPU is too old for the Triton kernels (Mamba2's path): Triton needs sm_70 or newer, and below Ampere (sm_80) "
         "its default tf32 float32 dot products do not compile (IndexError: map::at)",
         "on Volta/Turing (sm_70/sm_75): export TRITON_F32_DEFAULT=ieee (no tf32) before running, and use float16 or "
         "float32, not bfloat16; below sm_70 the Triton kernels cannot run: Mamba (v1, CUDA kernels) or an sm_80+ GPU"),
    Rule("triton_version",
         r"out of resource: shared memory[^\n]{0,300}hardware limit:\s{0,20}49152|No matching distribution found for triton\b|"
         r"Could not find a version that satisfies the requirement triton\b|module 'triton(?:\.language)?' has no attribute|"
         r"cannot import name '\w{1,200}' from 'triton|full_nargs = \{\*\*self\.nargs|"
         r"autotuner\.py[^\n]{0,300}\n(?:[^\n]{0,300}\n){0,3}[^\n]{0,300}'NoneType' object is not a mapping",
         "the installed Triton does not fit: too old for these kernels, or no Triton build exists for this platform/Python",
         "install a newer triton (pip install -U 'triton>=2.3'; on Linux x86_64/aarch64 only), keeping torch; "
         "Windows has no official triton wheels"),
    Rule("shared_memory_headdim",
         r"out of resource: shared memory|OutOfResources",
         "a Triton kernel needs more shared memory than this GPU has: the model's head dimension (or d_state) is too large "
         "for this GPU's per-block limit",
         "use a smaller headdim (e.g. 64 or 128) / d_state, or a GPU with more shared memory (sm_80+ has 164-228 KiB)"),
    Rule("triton_old_gcc",
         r"loop initial declarations are only allowed in C99|use option -std=c99 or -std=gnu99",
         "Triton compiles a small C launcher with the system's C compiler, which is too old (pre-C99 default, e.g. gcc 4.8)",
         "point Triton at a newer compiler: export CC=/path/to/gcc-9+ (conda install -c conda-forge gcc), then rerun"),
    Rule("triton_ldconfig",
         r"No such file or directory: '?ldconfig'?|ldconfig: (?:command )?not found|\[Errno 2\][^\n]{0,300}ldconfig",
         "Triton looks for libcuda.so by running ldconfig, which is not on PATH (it lives in /sbin)",
         "export PATH=$PATH:/sbin:/usr/sbin (or set TRITON_LIBCUDA_PATH to the folder holding libcuda.so.1)"),
    Rule("triton_libcuda",
         r"cannot find -lcuda\b|libcuda\.so cannot found|libcuda\.so[^\n]{0,300}not found",
         "Triton's launcher cannot link against libcuda.so: the driver library is not in the linker's search path",
         "export TRITON_LIBCUDA_PATH=/usr/lib/x86_64-linux-gnu (the folder with libcuda.so.1; in containers the stubs: "
         "/usr/local/cuda/lib64/stubs), or run sudo ldconfig"),
    # --- platforms without prebuilt wheels -----------------------------------------------------
    Rule("macos_unsupported",
         NO_NVCC + r"|Torch not compiled with CUDA enabled|error: command '[^']{0,300}clang\+?\+?' failed|CUDA is not available|"
                   r"No CUDA runtime is found",
         "macOS has no NVIDIA CUDA: mamba_ssm and causal_conv1d are CUDA kernels and cannot be built or run on a Mac",
         "run on a Linux machine with an NVIDIA GPU (or a cloud GPU / Docker host); mambaenv bundle can prepare the files here",
         when=("darwin",)),
    Rule("windows_msvc",
         r"M_LOG2E|unsupported Microsoft Visual Studio version|fatal error C\d{4}|error C\d{4}:|"
         r"Microsoft Visual C\+\+ 14\.0 or greater is required|error: command '[^']{0,300}cl\.exe' failed",
         "the Windows (MSVC) build fails: upstream's kernels are written for Linux compilers and no Windows wheels exist",
         "use WSL2 (Ubuntu) with the Linux wheels: mambaenv install there; a native Windows build needs source patches"),
    Rule("windows_native",
         r"Error compiling objects for extension",  # after windows_msvc: a compiler error it knows names the cause better
         "native Windows: upstream has no Windows wheels, and the Linux kernels' build does not compile there",
         "use WSL2 (Ubuntu) with the Linux wheels (mambaenv install there); natively, conda-forge has win-64 builds (conda "
         "install -c conda-forge mamba-ssm causal-conv1d)",
         when=("windows",)),
    Rule("rocm7_build",
         r"constexpr variable '\w{1,100}' must be initialized by a constant expression",
         "ROCm 7 made the warp size a run-time value, and this mamba-ssm source still uses it as a compile-time constant",
         "build a mamba-ssm with the ROCm 7 fix (state-spaces/mamba#831, 2026-01): pip install --no-build-isolation "
         "git+https://github.com/state-spaces/mamba with HIP_ARCHITECTURES set to your gfx id; or build against ROCm 6.x"),
    Rule("rocm",
         r"cannot determine amdgcn architecture|amdgpu-arch|hipErrorNoBinaryForGpu|hipcc[^\n]{0,300}(?:failed|error)|"
         r"clang\+\+: error[^\n]{0,300}offload|HIP error|invalid device function[^\n]{0,300}hip",
         "a ROCm (AMD) build problem: upstream publishes no ROCm wheels and the HIP build needs the GPU's gfx target",
         "build from source with the GPU's target set: export HIP_ARCHITECTURES=gfx942 (your gfx id from rocminfo), then "
         "pip install --no-build-isolation . in a ROCm torch env"),
    Rule("build_isolation_wrong_torch",
         r"pip-build-env-\S{0,300}[/\\]overlay[/\\]\S{0,300}[/\\]torch[/\\]|No ROCm runtime is found",
         "pip built the package in an isolated build env with a torch it downloaded (a CUDA/CPU build from PyPI), not "
         "this env's ROCm torch",
         "install with pip install --no-build-isolation (torch, packaging, ninja, setuptools, wheel already in the env)",
         when=("rocm", "build")),
    # --- the build toolchain ---------------------------------------------------------------------
    Rule("cuda_mismatch",
         r"detected CUDA version \(\S{0,300}\) mismatches the version that was used to compile\s{0,20}PyTorch|"
         r"mismatches the version that was used to compile\s{0,20}PyTorch",
         "nvcc (the CUDA toolkit) and the CUDA torch was built with differ in major version, so the extension cannot be compiled",
         "use a prebuilt wheel (mambaenv resolve / install), or install a CUDA toolkit of torch's major version and "
         "point CUDA_HOME at it; in an isolated build, add --no-build-isolation so your own torch is used",
         fixes=(("nightly_or_ngc", "this torch (nightly/NGC) has no prebuilt wheels: install a CUDA toolkit of torch's major "
                 "version, set CUDA_HOME, then mambaenv build"),)),
    Rule("gcc_too_new",
         r"unsupported GNU version|gcc versions later than \d{1,9} are not supported|"
         r"is greater than the maximum required version by CUDA",
         "the host gcc is newer than this nvcc supports",
         "build with an older gcc: export CC=gcc-11 CXX=g++-11 NVCC_CCBIN=g++-11 (conda: gxx_linux-64=11), or use a "
         "newer CUDA toolkit of torch's major version"),
    Rule("cxx20_required",
         r"C\+\+20 or later compatible compiler is required",
         "torch 2.14+ (2.13 under strict compilers) needs C++20, but this package's build passes -std=c++17, which wins over "
         "torch's own default",
         "use a prebuilt wheel for this torch (mambaenv install); or build sources that pass -std=c++20 (mamba-ssm after "
         "state-spaces/mamba#1000, or sed -i 's/-std=c++17/-std=c++20/g' setup.py, then pip install --no-build-isolation .); "
         "or keep torch below 2.14"),
    Rule("gcc_too_old",
         r"You need C\+\+1[47] to compile PyTorch|stdatomic\.h: No such file|unrecognized command[- ]line option '-std=c\+\+17'|"
         r"is less than the minimum required version|requires (?:at least )?gcc (?:version )?[5-9]|#error[^\n]{0,300}C\+\+17",
         "the host C++ compiler is too old for torch's headers (they need C++17, gcc 9 or newer)",
         "install a newer gcc (conda install -c conda-forge gxx_linux-64=11, or devtoolset) and export CC/CXX, then build "
         "again with --no-build-isolation"),
    Rule("cusparse_missing",
         r"(?:cusparse|cublas_v2|cublasLt|cusolverDn|curand|cufft)\.h: No such file or directory",
         "the CUDA toolkit is incomplete: the math library headers (cuSPARSE, cuBLAS...) torch's headers include are missing",
         "install the full toolkit (the distro's cuda-toolkit-X-Y, or conda install -c nvidia cuda-toolkit) and set CUDA_HOME to it"),
    Rule("build_env_no_packaging",
         r"No module named '(?:packaging|wheel)'|invalid command 'bdist_wheel'|Ninja is required to load C\+\+ extensions",
         "setup.py's build tools (packaging, wheel, ninja) are missing from the env it runs in",
         "pip install packaging wheel setuptools ninja, then install with --no-build-isolation; or use a prebuilt wheel "
         "(mambaenv install)"),
    Rule("build_isolation_no_torch",
         r"No module named '?torch'?",
         "pip built the package in an isolated build env, which has no torch (setup.py imports it); this is not your env's torch",
         "install torch in the env first, then pip install --no-build-isolation mamba-ssm causal-conv1d; or mambaenv install "
         "(prebuilt wheels, no build)",
         when=("build",)),
    Rule("torch_missing",
         r"No module named '?torch'?",
         "torch is not installed in the env that ran this",
         "install a CUDA build of torch first (pip install torch --index-url https://download.pytorch.org/whl/cu126), then "
         "mambaenv install",
         when=("runtime",)),
    Rule("build_isolation_wrong_torch",
         NO_NVCC,
         "nvcc is installed here, yet the build did not find it: pip built in an isolated env (with a torch it downloaded) "
         "or CUDA_HOME points elsewhere",
         "pip install --no-build-isolation (torch, packaging, ninja already in the env) with CUDA_HOME set to the toolkit",
         when=("has_nvcc", "not_rocm")),
    Rule("no_nvcc",
         NO_NVCC,
         "no CUDA compiler (nvcc) was found, so setup.py could not build the kernels",
         "use a prebuilt wheel instead (mambaenv resolve / install); to build, install the CUDA toolkit of torch's major "
         "version and set CUDA_HOME, then build with --no-build-isolation",
         fixes=(("rocm", "on ROCm there is no nvcc and no prebuilt wheel: the build must see your ROCm torch (pip install "
                         "--no-build-isolation) with HIP_ARCHITECTURES set; 'nvcc not found' means it saw a CUDA or CPU torch"),
                ("windows", "Windows has no prebuilt wheels: use WSL2 (Ubuntu) and mambaenv install there; a native build needs "
                            "the CUDA toolkit, a CUDA torch (not +cpu) and source patches"),
                ("cpu_torch", "the torch that setup.py saw is a CPU-only build: install a CUDA build of torch, then a prebuilt "
                              "wheel (mambaenv install) or build with --no-build-isolation and the CUDA toolkit"),
                ("nightly_or_ngc", "no prebuilt wheel exists for a nightly/NGC torch: install the CUDA toolkit of torch's major "
                                   "version, set CUDA_HOME, then mambaenv build"))),
    # --- import-time failures of an installed extension ----------------------------------------
    Rule("abi_mismatch",
         # any torch function: the mangled name holds a length-prefixed namespace (3c10, 2at, 5torch); markdown may turn _ into *
         r"undefined symbol: [_*]Z\w{0,300}?(?:3c10|2at|5torch|6caffe2)|"
         r"(?:selective_scan_cuda|causal_conv1d_cuda|flash_attn_2_cuda)\w{0,100}\.[^\n]{0,100}\.so: undefined symbol",
         "the compiled extension does not match this torch: it was built for another torch version or C++ ABI (cxx11abi)",
         "install the wheel built for this torch's version and cxx11abi (mambaenv resolve names it; mambaenv install checks "
         "it before installing), or rebuild against this torch (mambaenv build); a source build that still fails this way "
         "is older than this torch: build a newer release of that package",
         fixes=(("nightly_or_ngc", "no prebuilt wheel matches a nightly/NGC torch: rebuild against it with mambaenv build"),)),
    Rule("libc10_missing",
         r"lib(?:c10|c10_cuda|torch|torch_cpu|torch_cuda|torch_python)\.so: cannot open shared object file",
         "the extension was imported before torch: its libraries (libc10.so...) are loaded by 'import torch', or torch is missing",
         "import torch first (import mamba_ssm / causal_conv1d do), e.g. python -c 'import torch, causal_conv1d_cuda'; "
         "if that fails too, torch is missing from this env"),
    Rule("libcudart_missing",
         r"lib(?:cudart|cublas|cublasLt|nvrtc|cusparse|curand|cufft)\.so\.(\d{1,9})(?:\.\d{1,9})?: cannot open shared object file",
         "the extension was built for another CUDA major version than this torch's (or torch is a CPU build), so its CUDA runtime "
         "library is missing",
         "install the wheel for torch's CUDA major (cu11 vs cu12 vs cu13; mambaenv resolve names it), or a CUDA torch of the "
         "wheel's major"),
    Rule("glibc_too_old",
         r"version `GLIBC_2\.\d{1,9}' not found",
         "this Linux has an older glibc than the wheel was built against (upstream builds on Ubuntu 22.04; glibc cannot be upgraded "
         "inside an env)",
         "use a newer OS or mambaenv docker (an Ubuntu 22.04+ image), or build from source here (mambaenv build)"),
    Rule("glibcxx_too_old",
         r"version `(?:GLIBCXX_3\.4\.\d{1,9}|CXXABI_1\.3\.\d{1,9})' not found",
         "the libstdc++ found first is older than the one the extension needs (often the system's /lib64 or conda's own)",
         "install a newer libstdc++ into the env (conda install -c conda-forge libstdcxx-ng) or put a newer one first "
         "in LD_LIBRARY_PATH; or build from source with this compiler (mambaenv build)"),
    # --- the two packages together ---------------------------------------------------------------
    Rule("causal_conv1d_incompatible_args",
         r"causal_conv1d_(?:fwd|bwd|update)\w{0,200}\(\): incompatible function arguments|"
         r"causal_conv1d_\w{1,200}\(\) (?:got an unexpected keyword argument|takes [^\n]{0,300}positional arguments? but)|"
         r"cannot import name '\w{1,200}' from 'causal_conv1d|No module named 'causal_conv1d\.\w{1,200}'",
         "mamba_ssm and causal_conv1d versions do not go together: one calls the other's kernel with another signature",
         "install the causal_conv1d release made for this mamba_ssm (same period; e.g. mamba_ssm 2.2.x with causal_conv1d "
         "1.4-1.5, 2.3.x with 1.5.3+), or upgrade both together"),
    Rule("causal_conv1d_none",
         r"'NoneType' object has no attribute 'causal_conv1d_\w{1,200}'|causal_conv1d_(?:fn|cuda) is None|"
         r"assert causal_conv1d_fn is not None|No module named 'causal_conv1d'",
         "causal_conv1d could not be imported (not installed, or its import failed), and mamba_ssm carried on without it",
         "python -c 'import causal_conv1d' shows why; install the causal_conv1d wheel matching this torch (mambaenv install)"),
    Rule("selective_scan_cuda_missing",
         r"No module named '?selective_scan_cuda'?|name 'selective_scan_cuda' is not defined",
         "mamba_ssm's CUDA extension (selective_scan_cuda) is not there: a pure-Python build (MAMBA_SKIP_CUDA_BUILD, or upstream "
         "main without MAMBA_KEEP_CUDA_BUILD), a build that failed, or a source checkout shadowing the installed package",
         "reinstall from a prebuilt wheel (mambaenv install) or a real build (mambaenv build); run from outside any mamba "
         "source folder"),
    Rule("causal_conv1d_cuda_missing",
         r"No module named '?causal_conv1d_cuda'?",
         "causal_conv1d's CUDA extension is not there: a pure-Python or failed build, or a source checkout shadowing it",
         "reinstall causal_conv1d from a prebuilt wheel (mambaenv install) or mambaenv build; on Windows use WSL2"),
    # --- running the kernels ---------------------------------------------------------------------
    Rule("transformers_version",
         r"cannot import name '\w{1,200}' from 'transformers[\w.]{0,200}'",
         "this mamba_ssm imports names that newer transformers releases removed (its generation utilities)",
         "upgrade mamba_ssm (and the matching causal_conv1d), or install the transformers that was current when this "
         "mamba_ssm was released"),
    Rule("torch_cpu_only",
         r"Torch not compiled with CUDA enabled",
         "this torch is a CPU-only build: the kernels need a CUDA build of torch",
         "install a CUDA build of torch (pip install torch --index-url https://download.pytorch.org/whl/cu126), then "
         "mambaenv install",
         when=("not_darwin",)),
    Rule("nvcc_too_old_for_arch",
         r"Unsupported gpu architecture 'compute_\d{1,9}\w{0,200}'|nvcc fatal\s{0,20}: Value 'sm_\d{1,9}\w{0,200}' is not defined",
         "this nvcc is too old for a GPU architecture the build asks for (a newer GPU than the toolkit knows)",
         "build only for this GPU with a toolkit that knows it (CUDA 12.8+ for sm_100/sm_120): mambaenv build --arch native"),
    Rule("torch_arch_missing",
         r"with CUDA capability sm_\d{2,3}\w? is not compatible with the current PyTorch installation",
         "this torch build has no kernels for this GPU (an RTX 50xx, sm_120, needs a torch built with CUDA 12.8 or newer), "
         "so torch itself fails before any mamba kernel runs",
         "install a torch built for this GPU: pip install torch --index-url https://download.pytorch.org/whl/cu128 (or "
         "newer), then the mamba wheels for that torch (mambaenv install)",
         weight=1.4),  # torch's own warning outranks the no-kernel-image error that follows it
    Rule("no_kernel_image",
         r"no kernel image is available for execution on the device|CUDA error: invalid device function",
         "the binary has no code for this GPU's architecture (upstream wheels carry SASS only, for a fixed list)",
         "build for this GPU: mambaenv build --arch native, or a wheel that includes this architecture"),
    Rule("mamba2_strides",
         r"strides[^\n]{0,300}multiples of 8|stride\(\d\)[^\n]{0,300}multiple of 8",
         "Mamba2's causal_conv1d call needs channel counts (d_inner + 2*ngroups*d_state) that are multiples of 8",
         "choose d_model / expand / headdim / d_state so those channel counts are multiples of 8"),
    Rule("b_stride",
         r"Expected [BC]\.stride\(-1\) == 1",
         "a known mamba_ssm bug with some input shapes (short sequences), fixed in later releases",
         "upgrade mamba_ssm (and the matching causal_conv1d), or make B and C contiguous before the call"),
    Rule("cpu_not_supported",
         r"Expected \w{1,200}\.is_cuda\(\) to be true|must be a CUDA tensor|Expected all tensors to be on the same device",
         "the kernels run on CUDA tensors only; a tensor (or the model) is on the CPU",
         "move the model and inputs to the GPU (model.cuda(), x.cuda()); there is no CPU implementation"),
    Rule("no_cuda_device",
         r"Found no NVIDIA driver|no CUDA GPUs are available|CUDA driver initialization failed|"
         r"torch\.cuda\.is_available\(\) is False|NO_CUDA_DEVICE",
         "no CUDA device is visible to this process",
         "run on a GPU node; in Docker pass --gpus all (mambaenv docker run does); check CUDA_VISIBLE_DEVICES and nvidia-smi"),
    Rule("driver_too_old",
         r"driver version is insufficient for CUDA runtime|CUDA driver version is insufficient|"
         r"The NVIDIA driver on your system is too old|provided PTX was compiled with an unsupported toolchain",
         "the NVIDIA driver is older than the CUDA that torch was built with",
         "upgrade the driver, or install a torch built for an older CUDA (mambaenv doctor shows the driver's limit)"),
    Rule("out_of_memory",
         r"CUDA out of memory|OutOfMemoryError|Killed signal terminated program|fatal error: Killed|"
         r"\(signal 9\)|virtual memory exhausted|Cannot allocate memory",
         "memory ran out: the GPU's at run time, or the host's RAM while many nvcc jobs compiled in parallel",
         "at run time: smaller shapes or free the GPU (nvidia-smi); while building: MAX_JOBS=2 (mambaenv build sizes jobs to RAM)"),
    Rule("out_of_memory",
         r"Error compiling objects for extension",
         "the extension's compile failed without a compiler error in the log: most often a compiler killed for lack of RAM "
         "by too many parallel jobs",
         "look for the first 'error:' above; if there is none, build with MAX_JOBS=2 (mambaenv build sizes jobs to free RAM)",
         weight=0.5),
    Rule("build_isolation_wrong_torch",
         r"Building wheel for " + PKG + r" \(pyproject\.toml\)[^\n]{0,300}(?:error|did not run successfully)|"
         r"Failed to build `?" + PKG + r"[^\n]{0,300}\n(?:[^\n]{0,300}\n){0,3}[^\n]{0,300}build backend",
         "the package was built in an isolated build env (PEP 517), with a freshly downloaded torch instead of this env's",
         "install with --no-build-isolation (pip; uv: --no-build-isolation-package mamba-ssm), or use a prebuilt wheel "
         "(mambaenv install)",
         weight=0.5),
    Rule("build_all_archs_hang",
         r"Building wheel for " + PKG + r" \((?:setup\.py|pyproject\.toml)\)|Running setup\.py install for " + PKG + r"|"
         r"nvcc[^\n]{0,2000}-gencode",
         "pip found no prebuilt wheel and is compiling every GPU architecture from source (tens of minutes to hours; it only "
         "looks hung)",
         "stop it; mambaenv resolve tells whether a wheel exists; otherwise mambaenv build compiles only this GPU's architecture",
         when=("running",), where="tail"),
    Rule("triton_compile",
         r"Internal Triton PTX codegen error|triton\.compiler\.errors\.\w{1,200}|PTXAS error|ptxas fatal",
         "Triton failed to compile a kernel (the Mamba2 path JIT-compiles with Triton)",
         "read the first error under it; a Triton newer than torch's pin is sometimes the fix, and a C compiler must be present",
         weight=0.6),
)

# Cause ids older mambaenv versions and other documents use for the same families.
ALIASES = {"pure_python_build": "selective_scan_cuda_missing", "missing_extension": "selective_scan_cuda_missing"}

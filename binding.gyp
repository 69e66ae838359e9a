{
  "targets": [
    {
      "target_name": "ligo_native",
      "sources": [
        "native/addon.cc",
        "native/cpu.cc",
        "native/threadpool.cc",
        "native/gemm.cc",
        "native/norm.cc",
        "native/activation.cc",
        "native/attention.cc",
        "native/loss.cc",
        "native/embedding.cc",
        "native/elementwise.cc",
        "native/optim.cc",
        "native/optim_factored.cc",
        "native/ligo_grow.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2", "-O1"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-O1"],
      "cflags": ["-O3", "-fno-math-errno", "-Wall", "-Wno-unused-function", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
      "cflags_cc": ["-O3", "-std=c++17", "-fexceptions", "-fno-math-errno", "-Wall", "-Wno-unused-function", "-Wno-maybe-uninitialized", "-Wno-uninitialized"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-std=c++17", "-fno-math-errno"]
      },
      "msvs_settings": {"VCCLCompilerTool": {"ExceptionHandling": 1}}
    }
  ]
}

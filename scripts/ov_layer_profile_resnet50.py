"""Layer profile of OpenVINO INT8 ResNet-50 b1 (what `zoo bench resnet50 --backend auto` picks at batch 1 on an
AVX-512 VNNI CPU): where the time goes, by op type and by the precision each layer ran in (OpenVINO PERF_COUNT).
Random weights, NNCF calibration on random images: the profile explains the gap between the convolutions'
share of the int8 peak and the whole model's. Run: .venv/bin/python scripts/ov_layer_profile_resnet50.py"""
import collections, logging
import numpy as np, torch, torchvision, openvino as ov, nncf
nncf.set_log_level(logging.ERROR)
torch.manual_seed(0)
m = torchvision.models.resnet50().eval()
x = torch.randn(1, 3, 224, 224)
ovm = ov.convert_model(m, example_input=x)
cal = [np.random.randn(1, 3, 224, 224).astype(np.float32) for _ in range(16)]
q = nncf.quantize(ovm, nncf.Dataset(cal), subset_size=16)
req = ov.Core().compile_model(q, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2,
                                         "PERF_COUNT": True}).create_infer_request()
for _ in range(10): req.infer([x.numpy()])
by_type, by_prec, total, N = collections.Counter(), collections.Counter(), 0.0, 30
for _ in range(N):
    req.infer([x.numpy()])
    for p in req.profiling_info:
        us = p.real_time.total_seconds() * 1e6
        if us <= 0: continue
        by_type[p.node_type] += us / N
        prec = "int8" if any(t in p.exec_type for t in ("I8", "U8", "i8", "u8")) else "f32/other"
        by_prec[(p.node_type, prec)] += us / N
        total += us / N
GOP = 2 * 4.09  # ResNet-50's 4.09 GMAC at 224 px (torchvision's model card: 4.09 GFLOPS counted as MACs)
conv = sum(v for (t, pr), v in by_prec.items() if t == "Convolution" and pr == "int8")
print(f"total per inference (sum of layers): {total/1e3:.2f} ms")
print(f"int8 convolutions: {conv/1e3:.2f} ms = {100*conv/total:.1f} % of the time; {GOP/(conv/1e6)/1e3:.3f} TOP/s in them")
for k, v in by_type.most_common(12): print(f"  {k:24s} {v/1e3:7.2f} ms  {100*v/total:5.1f} %")
print("by (type, precision):")
for k, v in by_prec.most_common(12): print(f"  {str(k):44s} {v/1e3:7.2f} ms  {100*v/total:5.1f} %")

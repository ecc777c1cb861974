"""Layer profile of OpenVINO INT8 BERT-base s128 b1 (float layers in bf16): where the time goes, by op type and
by the precision each layer ran in (OpenVINO PERF_COUNT). Random weights, calibration on random token ids: the
profile explains the gap between the GEMMs share of peak and the model's. Run: .venv/bin/python scripts/ov_layer_profile_bert.py"""
import collections, logging, time
import numpy as np, torch, openvino as ov, nncf
from transformers import BertConfig, BertForSequenceClassification
nncf.set_log_level(logging.ERROR)
torch.manual_seed(0)
m = BertForSequenceClassification(BertConfig(num_labels=2)).eval()
ids = torch.randint(1000, 2000, (1, 128)); mask = torch.ones(1, 128, dtype=torch.long)
ovm = ov.convert_model(m, example_input={"input_ids": ids, "attention_mask": mask})
cal = [{"input_ids": np.random.randint(1000, 20000, (1, 128)), "attention_mask": np.ones((1, 128), np.int64)} for _ in range(16)]
q = nncf.quantize(ovm, nncf.Dataset(cal), subset_size=16, model_type=nncf.ModelType.TRANSFORMER)
core = ov.Core()
req = core.compile_model(q, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 2,
                                    "INFERENCE_PRECISION_HINT": "bf16", "PERF_COUNT": True}).create_infer_request()
inp = {"input_ids": ids.numpy(), "attention_mask": mask.numpy()}
for _ in range(10): req.infer(inp)
by_type, by_prec, total = collections.Counter(), collections.Counter(), 0.0
N = 30
for _ in range(N):
    req.infer(inp)
    for p in req.profiling_info:
        us = p.real_time.total_seconds() * 1e6
        if us <= 0: continue
        by_type[p.node_type] += us / N
        prec = "int8" if "I8" in p.exec_type or "U8" in p.exec_type or "i8" in p.exec_type else ("bf16" if "bf16" in p.exec_type.lower() else "f32/other")
        by_prec[(p.node_type, prec)] += us / N
        total += us / N
print(f"total per inference (sum of layers): {total/1e3:.2f} ms")
for k, v in by_type.most_common(12): print(f"  {k:24s} {v/1e3:7.2f} ms  {100*v/total:5.1f} %")
print("by (type, precision):")
for k, v in by_prec.most_common(14): print(f"  {str(k):44s} {v/1e3:7.2f} ms  {100*v/total:5.1f} %")

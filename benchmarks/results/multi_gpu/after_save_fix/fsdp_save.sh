python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .gpu/a/whl/*.whl 2>&1 | tail -2
export PYTHONPATH=/tmp/site:. PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
python3 -c "from tests.tiny_backbones import save_tiny_backbones; save_tiny_backbones('/tmp/tiny')"
timeout 100 accelerate launch --config_file recipes/accelerate/fsdp.yaml run_summarization.py recipes/demo/demo.yaml --encoder_name_or_path /tmp/tiny/encoder --decoder_name_or_path /tmp/tiny/decoder --use_cpu false --max_train_samples 160 --max_eval_samples 20 --per_device_eval_batch_size 20 --log_level warning --use_feature_cache false --fp16 false --output_dir /tmp/o/f > $OUT/f.log 2>&1; echo rc=$?
ls /tmp/o/f; python3 -c "import json; print(json.load(open('/tmp/o/f/config.json'))['auto_map'])"
python3 -c "
from transformers import AutoModelForSeq2SeqLM
m = AutoModelForSeq2SeqLM.from_pretrained('/tmp/o/f', trust_remote_code=True); print(type(m).__module__, type(m).__name__)"
# Run on the lent 2 x H100 machine (2026-11-25, commit 7f139b8) from the repository root, with `.gpu/a/whl` holding the
# datasets/evaluate/rouge_score wheels. Its output, the checkpoint listing and the reload:
#   auto_map {'AutoConfig': 'configuration_latent_space.LatentSpaceConfig',
#             'AutoModelForSeq2SeqLM': 'modeling_latent_space.LatentSpaceForConditionalGeneration'}
#   transformers_modules.f.3ef3b9e6cb754983.modeling_latent_space LatentSpaceForConditionalGeneration

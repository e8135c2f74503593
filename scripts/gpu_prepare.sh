#!/usr/bin/env bash
# Prepares what scripts/gpu_check.sh needs on a GPU machine that has Python 3.12, torch
# and CuPy but no spaCy and no network: the missing wheels (cp312, manylinux) unpacked,
# stripped and packed into .gpu/site.tar.xz (~25 MB), and the benchmark corpora
# (Resume NER, WNUT-17 from ../shared/data, see docs/benchmarks.md) converted to
# .gpu/data/*.spacy. Run from the checkout's root with the project's .venv installed.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-../shared/data}
PY=.venv/bin/python
mkdir -p .gpu/wheels .gpu/data
rm -rf .gpu/site && mkdir -p .gpu/site
platforms=""
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 \
         manylinux2014_x86_64 manylinux_2_5_x86_64 manylinux1_x86_64; do platforms="$platforms --platform $p"; done
# The versions this checkout is tested with; spacy-transformers 1.4 needs transformers < 4.54.
$PY -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp $platforms \
  -d .gpu/wheels "spacy>=3.8,<3.9" "thinc>=8.3,<8.4" "spacy-transformers==1.4.0" "transformers==4.53.2" \
  "tokenizers>=0.21,<0.22" "huggingface-hub>=0.30,<1.0" blis cymem murmurhash preshed srsly wasabi weasel \
  catalogue confection langcodes language-data marisa-trie pydantic pydantic-core annotated-types \
  typing-inspection cloudpathlib smart-open spacy-legacy spacy-loggers spacy-alignments wrapt
for wheel in .gpu/wheels/*.whl; do
  case "$wheel" in *jieba-*) ;; *) unzip -q -o "$wheel" -d .gpu/site ;; esac
done
# jieba ships as an sdist only: build its (pure Python) wheel, then drop the parts the
# tokenizer never imports (posseg, analyse, paddle models).
$PY -m pip wheel -q --no-deps -w .gpu/wheels "jieba==$($PY -c 'import importlib.metadata as m; print(m.version("jieba"))')"
unzip -q -o .gpu/wheels/jieba-*.whl -d .gpu/site
rm -rf .gpu/site/jieba/{lac_small,analyse,posseg}
# Debug symbols, C sources and tests are most of the size and none of the function.
find .gpu/site -name "*.so" -exec strip --strip-unneeded {} \;
find .gpu/site \( -name "*.cpp" -o -name "*.pyx" -o -name "*.pxd" -o -name "*.c" -o -name "__pycache__" \) \
  -prune -exec rm -rf {} +
rm -rf .gpu/site/{spacy,thinc,blis,srsly,spacy_transformers,preshed,cymem}/tests
tar -cJf .gpu/site.tar.xz -C .gpu/site .
# The corpora, tokenized as the pipelines tokenize them.
$PY -m spacy assemble configs/zh_tokenizer.cfg .gpu/zh_tokenizer >/dev/null
$PY -m spacy_ft convert "$DATA/resume_ner/train.char.bmes" .gpu/data/zh_train.spacy --format char --model .gpu/zh_tokenizer
$PY -m spacy_ft convert "$DATA/resume_ner/dev.char.bmes" .gpu/data/zh_dev.spacy --format char --model .gpu/zh_tokenizer
$PY -m spacy_ft convert "$DATA/wnut17/wnut17train.conll" .gpu/data/en_train.spacy --format conll --lang en
$PY -m spacy_ft convert "$DATA/wnut17/emerging.dev.conll" .gpu/data/en_dev.spacy --format conll --lang en
ls -la .gpu/site.tar.xz .gpu/data

"""NLP end to end: bundled datasets (``data``), trained tokenizers (``tokenizer``), RNN networks (``rnn``),
greedy/beam decoding (``decode``), metrics (``metrics``), checkpoints (``checkpoint``), training (``train``)
and evaluation (``evaluate``). The models themselves are registered in ``zoo.models.text``."""

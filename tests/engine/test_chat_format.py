"""The bundled model's own chat format (model/assets/bundled/shakespeare-12m.chat.json)."""
from model.generate import generate
from model.loader import load_model
from model.sampling import SamplingParams
from model.settings import BUNDLED_CHECKPOINT
from engine.chat_format import ChatFormat, for_checkpoint
from engine import Message


def test_bundled_chat_format_answers_in_character():
    # the server reads <checkpoint>.chat.json beside the bundled model: a play's dialogue, one speech per answer
    fmt = for_checkpoint(BUNDLED_CHECKPOINT, ChatFormat())
    assert fmt.render([Message("user", "Good morrow.")]) == "ROMEO:\nGood morrow.\n\nJULIET:\n"
    lm = load_model(BUNDLED_CHECKPOINT, device="cpu")
    prompt = lm.tokenizer.encode(fmt.render([Message("user", "Good morrow, fair lady. Wilt thou walk with me?")]))
    answers = generate(lm, [prompt] * 4, [SamplingParams(max_tokens=80, temperature=0.7, top_k=50, top_p=0.9,
                                                         stop=fmt.stop, seed=s) for s in range(4)], max_batch=4)
    assert sum(a.finish_reason == "stop" for a in answers) >= 3  # the speech ends instead of running on

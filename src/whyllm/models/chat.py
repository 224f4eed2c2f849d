"""Chat templates: a prompt template as the user turn of a chat model, ready for its answer."""

from __future__ import annotations

from whyllm.errors import InputError
from whyllm.models.base import LanguageModel


def chat_template(model: LanguageModel, template: str | None) -> str:
    """``template`` (default ``{text}``) as the user turn of ``model``'s chat template, ready for the
    assistant's answer; only the user's text stays a feature, the chat markup is fixed."""
    tok = getattr(model, "tokenizer", None)
    if tok is None or not getattr(tok, "chat_template", None):
        raise InputError(f"{model.model_id} has no chat template; leave chat off for a base model")
    user = template if template is not None else "{text}"
    wrapped = tok.apply_chat_template([{"role": "user", "content": user}], tokenize=False,
                                      add_generation_prompt=True)
    bos = getattr(tok, "bos_token", None)
    if bos and wrapped.startswith(bos) and model.encode("x").ids[:1] == (tok.bos_token_id,):
        wrapped = wrapped[len(bos):]  # the tokenizer adds it again
    return wrapped


def model_template(model: LanguageModel, template: str | None, chat: bool) -> str | None:
    """The template ``model`` sees: ``template`` itself, or inside the model's chat template."""
    return chat_template(model, template) if chat else template


DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"


def load_chat_model(spec=None) -> LanguageModel:
    """A chat model to generate with: a loaded model, a name or folder for ``load_model``, or
    ``openai:<url>`` for a served one (default: the local SmolLM2-135M-Instruct)."""
    if isinstance(spec, LanguageModel):
        return spec
    from whyllm.models import load_model

    return load_model(DEFAULT_CHAT_MODEL if spec is None else spec, cache=False)


def chat_reply(model: LanguageModel, prompt: str, max_new_tokens: int, prefill: str = ""
               ) -> tuple[str, int, int]:
    """The model's greedy reply to ``prompt`` as a user turn (its chat template, when it has one),
    starting with ``prefill``; with the prompt's and the reply's token counts."""
    if getattr(getattr(model, "tokenizer", None), "chat_template", None):
        prompt = chat_template(model, None).replace("{text}", prompt)
    ids = model.encode(prompt + prefill).ids
    out = model.generate(ids, max_new_tokens, stop_at_newline=False)
    return prefill + model.decode(out), len(ids), len(out)

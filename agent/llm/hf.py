"""The transformers proposer: local causal language models, sampled in one batched `generate` call."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import replace
from typing import Any

from agent.llm.base import Completion, GenerationSettings, ModelError, ModelInfo, Prompt, cut_at_stop

DTYPES = ("float32", "bfloat16", "int8")


def render_text(tokenizer: Any, prompt: Prompt) -> str:
    """The text the model continues: the chat through the tokenizer's template, then the response prefix
    (fine-tuning, `agent.train.sft`, builds its prompts the same way)."""
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(prompt.messages, add_generation_prompt=True, tokenize=False)
    else:  # a base model without a chat template: plain concatenation
        text = "\n\n".join(message["content"] for message in prompt.messages) + "\n\n"
    return text + prompt.response_prefix


class TransformersProposer:
    def __init__(self, directory: str, name: str, revision: str | None, dtype: str = "float32",
                 threads: int | None = None, sae_hook: Any = None) -> None:
        if dtype not in DTYPES:
            raise ModelError(f"unknown dtype {dtype!r} (known: {', '.join(DTYPES)})")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        transformers_logging.set_verbosity_error()
        if threads:
            torch.set_num_threads(threads)
        started = time.perf_counter()
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
            model = AutoModelForCausalLM.from_pretrained(
                directory, local_files_only=True, dtype=torch.bfloat16 if dtype == "bfloat16" else torch.float32)
        except (OSError, ValueError) as error:
            raise ModelError(f"cannot load model {name!r} from {directory}: {str(error).splitlines()[0]}") from None
        model.eval()
        if dtype == "int8":
            # Dynamic int8 quantisation of the linear layers: about 3x faster decoding on a CPU,
            # where generation is bound by reading the weights.
            model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        self.model = model
        self.load_s = time.perf_counter() - started
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.info = ModelInfo(name=name, revision=revision, backend="transformers",
                              extra={"dtype": dtype, "directory": directory, "load_s": round(self.load_s, 3)})
        # An SAE hook (agent.sae.hook.SAEHook, `--sae`): attached only around `generate`, and only when given.
        self.sae_hook = sae_hook
        if sae_hook is not None:
            self.info.extra["sae"] = sae_hook.name
        self._grammar_tokenizer: Any = None  # llguidance's view of the tokenizer, built on the first grammar

    def render(self, prompt: Prompt) -> str:
        return render_text(self.tokenizer, prompt)

    def propose(self, prompt: Prompt, n: int, settings: GenerationSettings) -> list[Completion]:
        import torch
        from transformers import LogitsProcessorList, MaxTimeCriteria, StoppingCriteriaList

        # The clock starts before the prompt is encoded, so encoding and prefill count against the
        # limit: the criterion stops the batch at the first token after it (every sequence at once).
        started = time.perf_counter()
        clock = MaxTimeCriteria(settings.time_limit_s, initial_timestamp=time.time())
        encoded = self.tokenizer(self.render(prompt), return_tensors="pt", add_special_tokens=False)
        prompt_length = encoded["input_ids"].shape[1]
        torch.manual_seed(settings.seed)
        sampling = settings.temperature > 0
        processors = [self._grammar_processor(settings.grammar, n, prompt_length)] if settings.grammar else None
        recording = self.sae_hook.recording(self.model) if self.sae_hook is not None else nullcontext()
        with torch.inference_mode(), recording:
            output = self.model.generate(
                **encoded,
                do_sample=sampling,
                temperature=settings.temperature if sampling else None,
                top_p=settings.top_p if sampling else None,
                top_k=None,
                max_new_tokens=settings.max_new_tokens,
                num_return_sequences=n,
                stop_strings=list(settings.stop) or None,
                tokenizer=self.tokenizer,
                stopping_criteria=StoppingCriteriaList([clock]),
                logits_processor=LogitsProcessorList(processors) if processors else None,
                return_dict_in_generate=True,
                output_logits=True,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        timed_out = time.perf_counter() - started >= settings.time_limit_s
        generated = output.sequences[:, prompt_length:]
        # Log-probabilities under the model itself (raw logits, before temperature and top-p).
        logits = torch.stack(output.logits, dim=1).float()  # [n, steps, vocabulary]
        token_logprobs = torch.log_softmax(logits, dim=-1).gather(-1, generated[:, : logits.shape[1], None])[..., 0]
        completions = []
        for row in range(generated.shape[0]):
            completion = self._completion(generated[row].tolist(), token_logprobs[row].tolist(), settings, timed_out)
            if self.sae_hook is not None:  # the row's own tokens only: padding after its end is excluded
                completion = replace(completion, extras={**completion.extras,
                                                         "features": self.sae_hook.features(row, completion.tokens)})
            completions.append(completion)
        return completions

    def grammar_backend(self) -> str:
        from agent.llm.constrained import local_grammar_backend

        return local_grammar_backend()

    def _grammar_processor(self, grammar: str, rows: int, prompt_length: int) -> Any:
        from agent.llm.constrained import GrammarLogitsProcessor, grammar_tokenizer

        if self._grammar_tokenizer is None:
            self._grammar_tokenizer = grammar_tokenizer(self.tokenizer, self.model.config.vocab_size)
        return GrammarLogitsProcessor(self._grammar_tokenizer, grammar, rows, prompt_length)

    def _completion(self, tokens: list[int], logprobs: list[float], settings: GenerationSettings,
                    timed_out: bool) -> Completion:
        end_ids = {self.tokenizer.eos_token_id, self.tokenizer.pad_token_id}
        length = next((index for index, token in enumerate(tokens) if token in end_ids), len(tokens))
        finish = "stop" if length < len(tokens) else ("time" if timed_out else "length")
        # Find the first token whose text completes a stop string; later tokens do not count.
        for index in range(length):
            text, found = cut_at_stop(self.tokenizer.decode(tokens[: index + 1], skip_special_tokens=True), settings.stop)
            if found:
                return Completion(text, sum(logprobs[: index + 1]), index + 1, "stop")
        text = self.tokenizer.decode(tokens[:length], skip_special_tokens=True)
        used = min(length + (1 if finish == "stop" else 0), len(logprobs))
        return Completion(text, sum(logprobs[:used]), length, finish)

"""An interactive prompt: paste a dialogue, end it with a blank line, read its summary; `:` commands change settings."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from .latent_space_inference import GENERATION_SETTINGS, LatentSpaceInference, parse_setting

BANNER = """Latent-space summarizer: paste a dialogue, then an empty line to summarize it.
Type :help for commands; Ctrl-D or :quit leaves."""

HELP = f"""Commands (at the start of a new dialogue):
  :set NAME VALUE   change a generation setting, e.g. `:set temperature 0.7` (turns sampling on), `:set num_beams 4`
  :unset NAME       back to the model's default for NAME (same as `:set NAME none`)
  :reset            drop every setting changed here
  :show             list the current settings
  :latent           inspect the last dialogue's latents (z_in, z_out)
  :help             this text
  :quit             leave (also :exit, :q, Ctrl-D, Ctrl-C)
Settings: {", ".join(GENERATION_SETTINGS)}.
A temperature of 0 means greedy decoding; `:set seed 42` makes sampling repeatable."""

QUIT = (":quit", ":exit", ":q")


class _Session:
    def __init__(self, inference: LatentSpaceInference, stdin: TextIO, stdout: TextIO, settings: dict[str, Any]):
        self.inference = inference
        self.stdin, self.stdout = stdin, stdout
        self.initial = dict(settings)
        self.settings = dict(settings)
        self.last_dialogue: str | None = None
        self.use_input = stdin is sys.stdin and stdout is sys.stdout and stdin.isatty()

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def read(self, prompt: str) -> str | None:
        """One line without its newline, or None at end of input."""
        if self.use_input:  # a terminal: input() gives line editing
            try:
                return input(prompt)
            except EOFError:
                return None
        self.stdout.write(prompt)
        self.stdout.flush()
        line = self.stdin.readline()
        return None if line == "" else line.rstrip("\r\n")

    def summarize(self, lines: list[str]) -> None:
        dialogue = "\n".join(lines)
        self.last_dialogue = dialogue
        start = time.perf_counter()
        try:
            summary = self.inference.summarize(dialogue, **self.settings)
        except (ValueError, RuntimeError, TypeError) as error:
            self.say(f"error: {error}")
            return
        self.say(f"summary: {summary}")
        self.say(f"({time.perf_counter() - start:.2f} s)")

    def show(self) -> None:
        model_config = self.inference.model.generation_config
        self.say("Settings (* = changed here; the rest are the model's defaults):")
        for name in GENERATION_SETTINGS:
            if name in self.settings and self.settings[name] is not None:
                self.say(f"  * {name} = {self.settings[name]}")
            else:
                default = getattr(model_config, name, None) if name != "seed" else None
                self.say(f"    {name} = {default}")
        self.say(f"    max_source_length = {self.inference.max_source_length}")

    def latent(self) -> None:
        if self.last_dialogue is None:
            self.say("No dialogue yet: summarize one first.")
            return
        z_in = self.inference.get_latent(self.last_dialogue, "in")
        z_out = self.inference.get_latent(self.last_dialogue, "out")
        cosine = float((z_in @ z_out) / (z_in.norm() * z_out.norm()).clamp_min(1e-12))
        for name, z in (("z_in", z_in), ("z_out", z_out)):
            head = ", ".join(f"{v:+.3f}" for v in z[:8].tolist())
            self.say(f"  {name}: dim {z.numel()}, norm {z.norm():.3f}, first values [{head}, ...]")
        self.say(f"  cosine(z_in, z_out) = {cosine:.3f}; |z_out - z_in| = {(z_out - z_in).norm():.3f}")

    def command(self, line: str) -> bool:
        """Runs a `:` command; returns False when the session should end."""
        parts = line.split()
        name, args = parts[0].lower(), parts[1:]
        if name in QUIT:
            return False
        if name == ":help":
            self.say(HELP)
        elif name == ":show":
            self.show()
        elif name == ":reset":
            self.settings = dict(self.initial)
            self.say("Settings reset.")
        elif name == ":latent":
            self.latent()
        elif name in (":set", ":unset"):
            if (name == ":set" and len(args) != 2) or (name == ":unset" and len(args) != 1):
                self.say("usage: :set NAME VALUE  or  :unset NAME   (see :help)")
                return True
            try:
                value = parse_setting(args[0], args[1] if name == ":set" else None)
            except ValueError as error:
                self.say(f"error: {error}")
                return True
            self.settings[args[0]] = value
            sampling = (
                args[0] in ("temperature", "top_p", "top_k") and value and self.settings.get("do_sample") is None
            )
            self.say(f"{args[0]} = {value}" + ("  (sampling on)" if sampling else ""))
        else:
            self.say(f"Unknown command {parts[0]!r}; :help lists the commands.")
        return True

    def run(self) -> int:
        self.say(BANNER)
        lines: list[str] = []
        while True:
            line = self.read("... " if lines else ">>> ")
            if line is None:  # Ctrl-D / end of piped input: summarize what was pasted, then leave
                if lines:
                    self.summarize(lines)
                self.say("bye")
                return 0
            if not lines and line.strip().startswith(":"):
                if not self.command(line.strip()):
                    self.say("bye")
                    return 0
                continue
            if line.strip():
                lines.append(line)
            elif lines:
                self.summarize(lines)
                lines = []


def interactive_loop(
    inference: LatentSpaceInference,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    settings: dict[str, Any] | None = None,
) -> int:
    """
    Runs the prompt loop on `stdin`/`stdout` (the terminal by default; any text streams, e.g. `io.StringIO`, work).
    `settings` are the starting generation settings. Returns 0 on Ctrl-D, `:quit` or Ctrl-C.
    """
    session = _Session(inference, stdin or sys.stdin, stdout or sys.stdout, dict(settings or {}))
    try:
        return session.run()
    except KeyboardInterrupt:
        session.say("\nbye")
        return 0


__all__ = ["HELP", "interactive_loop"]

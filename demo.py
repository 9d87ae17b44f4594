"""Gradio app: chat with the ALEX agent beside the evidence; augment/balance, train/evaluate and settings tabs.

    python demo.py [--port 7860] [--host 127.0.0.1] [--cache-dir DIR]

The first launch trains the quick classifier on data/ and builds the example index (about a minute, shown
in the page); both are cached in ALEX_CACHE_DIR, so later launches are ready in seconds. Handlers only glue
the UI to ``agent/``: the agent, the tools, data checks and training live there.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from agent.datafiles import MAX_UPLOAD_BYTES
from agent.preparation import Preparation

logger = logging.getLogger("alex.demo")

TITLE = "ALEX health-post assistant"
INTRO = ("Paste a health-related post to get its label, whether the local LLM changed BERT's label, and the "
         "evidence. Follow up with *why?*, *which similar posts?*, *what would change your mind?* or "
         "*give me 3 augmented versions*.")
EXAMPLES = [
    "I took ibuprofen for my migraine and it did nothing, still in agony after 3 hours",
    'Classify "Lexapro made me feel like myself again after two weeks"',
    "How does the ALEX method work?",
]
POLICY_DEFAULT = "calibrated or default"
POLICIES = [POLICY_DEFAULT, "explain_only", "alex", "gated", "neighbours"]
USER_ERRORS = (ValueError, TypeError, FileNotFoundError, PermissionError, ImportError, RuntimeError, OSError)
EMPTY_PROBS = pd.DataFrame({"label": pd.Series(dtype=str), "probability": pd.Series(dtype=float)})
NEIGHBOUR_COLUMNS = ["id", "label", "similarity", "text"]


def _default_factory(progress: Callable[[float, str], None]) -> Any:
    from agent import build_agent

    agent = build_agent(progress=progress)
    progress(0.97, "loading the encoder and the LLM")
    agent.warm_up()
    return agent


# -- turning results into panel values ------------------------------------------------------------------------
def probabilities_frame(probabilities: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"label": list(probabilities), "probability": [float(p) for p in probabilities.values()]})


def neighbours_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame([{"id": r["id"], "label": r["label"], "similarity": round(float(r["similarity"]), 3),
                          "text": " ".join(str(r["text"]).split())[:300]} for r in rows], columns=NEIGHBOUR_COLUMNS)


def panel_values(artifact: dict[str, Any] | None) -> tuple[Any, Any, Any, Any]:
    """(probability chart, neighbours table, explanation, review flag) for a tool result; skip what it lacks."""
    skip = gr.skip()
    kind = (artifact or {}).get("kind")
    if kind == "explanation":
        item = artifact["explanation"]
        change = (f"changed BERT's {item['bert_label']}" if item["changed"]
                  else f"did not change BERT's label (LLM verdict: {item['llm_verdict']})")
        text = f"### Final label: {item['final_label']}\nThe LLM {change}.\n\n{item['explanation']}"
        review = ("**⚠ Flagged for review:** " + "; ".join(item["review_reasons"]) if item["review_flag"]
                  else "**✓ No review needed**")
        return (probabilities_frame(item["bert_probabilities"]), neighbours_frame(item["neighbours"]), text, review)
    if kind == "classification":
        first = artifact["results"][0]
        words = ", ".join(f'"{w["word"]}"' for w in first["words"]) or "none"
        text = (f"### Final label: {first['label']}\nBERT's label; the LLM did not change it (not consulted). "
                f"Words that drove it: {words}.")
        return probabilities_frame(first["probabilities"]), skip, text, "Quick label: ask *why?* for the full check."
    if kind == "neighbours":
        return skip, neighbours_frame(artifact["neighbours"]), skip, skip
    return skip, skip, skip, skip


def route_text(route: dict[str, Any]) -> str:
    who = "the LLM (grammar-constrained)" if route["source"] == "model" else "the deterministic fallback"
    args = {k: (v if not isinstance(v, str) or len(v) < 120 else v[:117] + "...") for k, v in route["args"].items()}
    return (f"Chosen by {who}; the model proposed `{route['model_choice']}`. {route['reason']}.\n\n"
            f"Arguments: `{args}`")


class DemoApp:
    """The process-wide agent (prepared once, in the background) and one agent thread per browser chat."""

    def __init__(self, agent_factory: Callable[[Callable[[float, str], None]], Any] | None = None) -> None:
        self.preparation = Preparation(agent_factory or _default_factory, name="model preparation")
        self._threads: dict[str, str] = {}

    # -- preparation ----------------------------------------------------------------------------------------
    def status_markdown(self) -> str:
        fraction, message, done = self.preparation.state()
        if self.preparation.ready:
            about = self.preparation.result().workspace.describe()
            return (f"**Ready.** Model `{about['classifier']}` · labels {', '.join(about['labels'])} · LLM "
                    f"`{about['llm']}` · policy `{about['policy']}` · {about['index_size']} indexed examples")
        if done:
            return f"**Preparation failed:** {message}"
        return f"**Preparing ({100 * fraction:.0f}%):** {message}"

    def wait_ready(self, progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008 - Gradio's injection idiom
        self.preparation.start()
        while True:
            fraction, message, done = self.preparation.state()
            if done:
                return self.status_markdown()
            progress(fraction, desc=message)
            time.sleep(0.5)

    def thread_for(self, request: gr.Request | None, history: list[Any]) -> str:
        """A fresh agent thread when a browser session starts a new chat (empty history)."""
        session = getattr(request, "session_hash", None) or "local"
        if not history or session not in self._threads:
            self._threads[session] = f"{session}-{uuid.uuid4().hex[:8]}"
        return self._threads[session]

    # -- chat -----------------------------------------------------------------------------------------------
    def chat(self, message: str, history: list[Any], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        skip = (gr.skip(),) * 4
        if not str(message or "").strip():
            yield [gr.ChatMessage(content="Please type a post or a question.")], *skip
            return
        while not self.preparation.state()[2]:
            fraction, status, _ = self.preparation.state()
            yield [gr.ChatMessage(content=f"Preparing the model ({100 * fraction:.0f}%): {status}",
                                  metadata={"title": "First launch", "status": "pending"})], *skip
            time.sleep(1.0)
        try:
            agent = self.preparation.result()
            yield from self._run_turn(agent, str(message), self.thread_for(request, history))
        except Exception as err:  # noqa: BLE001 - the UI shows a message, the log keeps the trace
            logger.exception("chat turn failed")
            yield [gr.ChatMessage(content=f"Sorry, that failed: {type(err).__name__}: {err}")], *skip

    def _run_turn(self, agent: Any, message: str, thread: str) -> Iterator[tuple[Any, ...]]:
        steps: list[gr.ChatMessage] = []
        panel: tuple[Any, ...] = (gr.skip(),) * 4
        started = tool_started = time.perf_counter()
        inputs = {"messages": [{"role": "user", "content": message}]}
        for update in agent.stream(inputs, {"configurable": {"thread_id": thread}}, stream_mode="updates"):
            for node, data in (update or {}).items():
                if node == "route":
                    route = data["route"]
                    steps.append(gr.ChatMessage(content=route_text(route), metadata={
                        "title": f"Route: {route['tool']}", "status": "done", "duration": route["seconds"],
                        "log": "model" if route["source"] == "model" else "fallback"}))
                    if route["tool"] != "respond":
                        steps.append(gr.ChatMessage(content="running…", metadata={
                            "title": f"Tool: {route['tool']}", "status": "pending"}))
                    tool_started = time.perf_counter()
                elif node == "tools":
                    tool_message = data["messages"][-1]
                    steps[-1] = gr.ChatMessage(content=_clip(str(tool_message.content)), metadata={
                        "title": f"Tool: {tool_message.name}" + (" (error)" if tool_message.status == "error" else ""),
                        "status": "done", "duration": round(time.perf_counter() - tool_started, 2)})
                    panel = panel_values(data.get("result"))
                elif node in {"answer", "respond"}:
                    steps.append(gr.ChatMessage(content=str(data["messages"][-1].content)))
                yield list(steps), *panel
                panel = (gr.skip(),) * 4
        logger.info("turn answered in %.2f s", time.perf_counter() - started)


def _clip(text: str, limit: int = 2500) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- other tabs -----------------------------------------------------------------------------------------------
def friendly(outputs: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Show a user's mistake (bad file, bad setting) as a message in the last output, never as a traceback."""
    def decorate(handler: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(handler)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            try:
                return handler(*args, **kwargs)
            except USER_ERRORS as err:
                logger.warning("%s: %s", handler.__name__, err)
                message = f"**Problem:** {err}"
            except Exception as err:  # noqa: BLE001 - still no traceback in the page
                logger.exception("%s failed", handler.__name__)
                message = f"**Unexpected error** ({type(err).__name__}): {err}"
            return (*(gr.skip(),) * (outputs - 1), message)
        return wrapped
    return decorate


def counts_figure(before: dict[str, int], after: dict[str, int]) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = sorted(set(before) | set(after))
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.bar(x - 0.2, [before.get(k, 0) for k in labels], 0.4, label="before")
    ax.bar(x + 0.2, [after.get(k, 0) for k in labels], 0.4, label="after")
    ax.set_xticks(x, labels)
    ax.set_ylabel("posts")
    ax.set_title("Class counts")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    plt.close(fig)
    return fig


def _require_file(file: Any, what: str) -> Path:
    if file is None:
        raise ValueError(f"upload {what} first")
    return Path(file if isinstance(file, str) else getattr(file, "name", file))


class TabHandlers:
    """Augment/balance, train/evaluate and settings: thin calls into agent/."""

    def __init__(self, app: DemoApp) -> None:
        self.app = app

    def _workspace(self) -> Any:
        return self.app.preparation.result().workspace

    def balance(self, file: Any, target: str, seed: float) -> tuple[Any, Any, str]:
        from agent.datafiles import balance_file, output_path

        source = _require_file(file, "a labelled CSV, TSV or JSONL file")
        spec: str | int = target.strip() or "max"
        spec = int(spec) if str(spec).isdigit() else spec
        folder = self._workspace().cache_dir / "outputs" / uuid.uuid4().hex[:8]
        outcome = balance_file(source, output_path(source, folder, f"balanced-seed{int(seed)}"), target=spec,
                               seed=int(seed), augmenters=self._workspace().augmenters)
        notes = "".join(f"\n- {w}" for w in outcome.warnings[:5])
        message = (f"Balanced **{source.name}**: {sum(outcome.before.values())} → {sum(outcome.after.values())} rows; "
                   f"augmented rows added {outcome.augmented or 'none'}." + (f"\n\nNotes:{notes}" if notes else ""))
        return counts_figure(outcome.before, outcome.after), outcome.output, message

    def augment(self, text: str, n: float, seed: float) -> tuple[str, str]:
        if not str(text or "").strip():
            raise ValueError("type a post to augment")
        variants = self._workspace().augmenter().augment(str(text), int(n), seed=int(seed))
        if not variants:
            raise ValueError("this post has too few changeable words to augment")
        return "\n".join(f"{i}. {v}" for i, v in enumerate(variants, start=1)), f"{len(variants)} versions."

    def train(self, train_file: Any, test_file: Any, method: str,
              progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple[Any, Any, str]:  # noqa: B008
        from agent.training import train_on_file
        from classifiers.metrics import plot_confusion

        source = _require_file(train_file, "a labelled training file")
        test = _require_file(test_file, "") if test_file is not None else None
        workspace = self._workspace()
        outcome = train_on_file(workspace, source, test, method=method,
                                progress=lambda fraction, message: progress(fraction, desc=message))
        image = plot_confusion(outcome.metrics, outcome.model_dir.parent.parent / "outputs" /
                               f"{outcome.model_dir.name}-confusion.png", title="Held-out confusion matrix")
        message = (f"Trained on {outcome.train_rows} posts, evaluated on {outcome.test_rows} ({outcome.test_source}). "
                   f"**The chat now uses this model** (labels: {', '.join(outcome.labels)}).")
        if outcome.warnings:
            message += "\n\nNotes:" + "".join(f"\n- {w}" for w in outcome.warnings[:5])
        return metrics_frame(outcome.metrics), str(image), message

    def apply_settings(self, gguf: str, policy: str, neighbours: float) -> str:
        workspace = self._workspace()
        settings = workspace.configure(gguf=gguf or "embedded", neighbours=int(neighbours),
                                       policy=None if policy == POLICY_DEFAULT else policy)
        about = workspace.describe()
        return (f"**Applied.** LLM `{about['llm']}` · policy `{about['policy']}` · {settings.neighbours} neighbours.")


def metrics_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = [{"label": label, "precision": round(r["precision"], 4), "recall": round(r["recall"], 4),
             "f1": round(r["f1"], 4), "support": r["support"]} for label, r in metrics["per_class"].items()]
    for name in ("accuracy", "micro_f1", "macro_f1", "positive_f1"):
        if name in metrics:
            rows.append({"label": f"[{name}]", "precision": None, "recall": None, "f1": round(metrics[name], 4),
                         "support": metrics["n"]})
    return pd.DataFrame(rows, columns=["label", "precision", "recall", "f1", "support"])


# -- layout ---------------------------------------------------------------------------------------------------
def _chat_tab(app: DemoApp) -> None:
    probs = gr.BarPlot(EMPTY_PROBS, x="label", y="probability", y_lim=[0, 1], title="Label probabilities (BERT)",
                       elem_id="prob-plot", render=False, height=240)
    neighbours = gr.Dataframe(pd.DataFrame(columns=NEIGHBOUR_COLUMNS), label="Similar labelled posts",
                              elem_id="neighbours", render=False, wrap=True, max_height=320)
    explanation = gr.Markdown("The latest result appears here.", elem_id="explanation", render=False)
    review = gr.Markdown("", elem_id="review-flag", render=False)
    with gr.Row():
        with gr.Column(scale=3):
            gr.ChatInterface(app.chat, chatbot=gr.Chatbot(height=680, elem_id="chatbot", label="Chat"),
                             textbox=gr.Textbox(placeholder="Paste a post, or ask a question…", elem_id="chat-input",
                                                submit_btn=True, show_label=False),
                             additional_outputs=[probs, neighbours, explanation, review], examples=EXAMPLES,
                             cache_examples=False, fill_height=False, analytics_enabled=False)
        with gr.Column(scale=2, elem_id="result-panel"):
            gr.Markdown("#### Latest result")
            review.render()
            probs.render()
            explanation.render()
            neighbours.render()


def _data_tab(tabs: TabHandlers) -> None:
    gr.Markdown("Upload a labelled CSV/TSV/JSONL file (a text column and a label column). Smaller classes are "
                f"augmented up to the target; the input is never changed. Limit: {MAX_UPLOAD_BYTES // 2**20} MB.")
    with gr.Row():
        with gr.Column():
            upload = gr.File(label="Labelled file", file_types=[".csv", ".tsv", ".jsonl", ".txt"], type="filepath",
                             elem_id="balance-upload")
            target = gr.Textbox("max", label="Target: max, a count N, label=N,… or ratio:R")
            seed = gr.Number(0, label="Seed", precision=0)
            go = gr.Button("Augment and balance", variant="primary")
        with gr.Column():
            chart = gr.Plot(label="Class counts before / after")
            result = gr.File(label="Balanced file (download)", elem_id="balance-result")
            message = gr.Markdown(elem_id="balance-message")
    go.click(friendly(3)(tabs.balance), [upload, target, seed], [chart, result, message])
    gr.Markdown("#### Augment one post")
    with gr.Row():
        post = gr.Textbox(label="Post", lines=2)
        count = gr.Slider(1, 10, value=3, step=1, label="Versions")
        post_seed = gr.Number(0, label="Seed", precision=0)
    variants = gr.Textbox(label="Augmented versions", lines=4)
    note = gr.Markdown()
    gr.Button("Augment").click(friendly(2)(tabs.augment), [post, count, post_seed], [variants, note])


def _train_tab(tabs: TabHandlers, status: gr.Markdown) -> None:
    gr.Markdown("Train a classifier on an uploaded labelled file and evaluate it (on a test file, or a stratified "
                "fifth held out). The trained model and its example index become the ones the chat uses.")
    with gr.Row():
        with gr.Column():
            train = gr.File(label="Training file", file_types=[".csv", ".tsv", ".jsonl", ".txt"], type="filepath",
                            elem_id="train-upload")
            test = gr.File(label="Test file (optional)", file_types=[".csv", ".tsv", ".jsonl", ".txt"],
                           type="filepath")
            method = gr.Dropdown(["head", "finetune"], value="head",
                                 label="Method (head: minutes on a CPU; finetune: slow without a GPU)")
            go = gr.Button("Train and evaluate", variant="primary")
        with gr.Column():
            metrics = gr.Dataframe(label="Metrics on held-out posts", elem_id="train-metrics")
            confusion = gr.Image(label="Confusion matrix", type="filepath", elem_id="train-confusion")
            message = gr.Markdown(elem_id="train-message")
    go.click(friendly(3)(tabs.train), [train, test, method], [metrics, confusion, message]).then(
        tabs.app.status_markdown, outputs=[status])


def _settings_tab(tabs: TabHandlers, status: gr.Markdown) -> None:
    gguf = gr.Textbox(label="GGUF model file", placeholder="embedded (SmolLM2-135M-Instruct)")
    policy = gr.Dropdown(POLICIES, value=POLICY_DEFAULT, label="Decision policy (when may the LLM change the label?)")
    neighbours = gr.Slider(0, 20, value=5, step=1, label="Neighbours retrieved per post")
    message = gr.Markdown()
    gr.Button("Apply", variant="primary").click(friendly(1)(tabs.apply_settings), [gguf, policy, neighbours],
                                                [message]).then(tabs.app.status_markdown, outputs=[status])


def build_demo(agent_factory: Callable[[Callable[[float, str], None]], Any] | None = None) -> gr.Blocks:
    """The app; ``agent_factory(progress)`` builds the agent (default: ``build_agent`` on the cached defaults).

    Nothing heavy runs here: preparation starts on ``launch`` (see ``main``) or on the first page load.
    """
    app = DemoApp(agent_factory)
    tabs = TabHandlers(app)
    with gr.Blocks(title=TITLE, fill_width=True, analytics_enabled=False) as demo:  # offline: no telemetry
        gr.Markdown(f"## {TITLE}\n{INTRO}")
        status = gr.Markdown("**Preparing…**", elem_id="status")
        with gr.Tab("Chat"):
            _chat_tab(app)
        with gr.Tab("Augment & balance"):
            _data_tab(tabs)
        with gr.Tab("Train & evaluate"):
            _train_tab(tabs, status)
        with gr.Tab("Settings"):
            _settings_tab(tabs, status)
        demo.load(app.wait_ready, outputs=[status])
    demo.alex_app = app  # type: ignore[attr-defined]  # main() starts preparation; tests inspect it
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--cache-dir", help="where the trained model and index are cached (ALEX_CACHE_DIR)")
    parser.add_argument("-v", "--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logger.setLevel(logging.INFO)
    if args.cache_dir:
        os.environ["ALEX_CACHE_DIR"] = args.cache_dir
    started = time.perf_counter()
    demo = build_demo()
    app: DemoApp = demo.alex_app  # type: ignore[attr-defined]
    app.preparation.start()

    def announce() -> None:
        try:
            app.preparation.result()
            logger.info("ALEX demo ready in %.1f s", time.perf_counter() - started)
        except RuntimeError as err:
            logger.error("ALEX demo preparation failed: %s", err)

    import threading

    threading.Thread(target=announce, daemon=True).start()
    demo.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port,
                                                   max_file_size=MAX_UPLOAD_BYTES, show_error=False)


if __name__ == "__main__":
    main()

"""End-to-end checks of the training pipeline on CPU (no GPU needed).

    cd native-models/train && /usr/bin/python3 -m unittest test_pipeline -v

Prepares a tiny dataset (4 Gutenberg books from ../shared/corpora/gutenberg-train, or a synthetic corpus when
that folder is absent), trains both variants for a few dozen steps and checks: the loss falls; the tokenizer
round-trips text and gives the same ids as @huggingface/tokenizers in JS; the sink variant has <sink> at
position 0 of every row; held-out PG-19 books are refused; the safetensors files are read by the project's
TypeScript reader; and the ONNX graph native-models/convert-hf.ts builds from our checkpoint, run by the
engine (main/engine/model.ts), gives the PyTorch logits within 1e-4. Node-based checks skip only when node
is missing; everything skips when PyTorch or NumPy is missing.
"""
from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

try:
    import numpy as np
    import torch
except ImportError as err:  # pragma: no cover
    raise unittest.SkipTest(f"PyTorch/NumPy missing ({err}); on Debian: apt-get install python3-torch python3-numpy")

import data
import safetensors_io
import tokenizer as tok
import train
from evaluate import load_model, perplexity
from measure_sinks import first_token_attention

NODE = shutil.which("node") and shutil.which("npx") and (REPO / "node_modules").exists()
TINY = ["--hidden-size", "64", "--intermediate-size", "176", "--num-hidden-layers", "2", "--num-attention-heads", "4",
        "--num-key-value-heads", "2", "--context", "64", "--batch-size", "8", "--steps", "40", "--warmup", "5",
        "--lr", "5e-3", "--eval-every", "20", "--eval-batches", "2", "--log-every", "1", "--ckpt-every", "40",
        "--threads", "1"]
STRINGS = [
    "Hello, world!",
    "  Two leading spaces, two inside  here, and a trailing one ",
    "Line one.\nLine two.\n\n\tTabbed line — with an em dash, café, naïve, Œuvre.",
    "Numbers 0 1 2 3 1000000 and 3.14159; emoji 😀🚂 and 漢字 fall back to bytes.",
    "aaaaaaa bbbbbbbb     ",
    "",
]


def synthetic_corpus(folder: Path) -> tuple[Path, Path]:
    """Fake Gutenberg books (header, body, footer) and a SOURCE.md naming a held-out test book."""
    rng = random.Random(0)
    words = ("the a little old house man woman river dog king queen walked saw said over under into "
             "quickly slowly and then but because green red dark bright morning night").split()
    train_dir = folder / "gutenberg-train"
    train_dir.mkdir(parents=True)
    for gid in range(20001, 20006):
        body = "\n".join(" ".join(rng.choice(words) for _ in range(12)).capitalize() + "." for _ in range(3000))
        (train_dir / f"{gid}.txt").write_text(
            f"The Project Gutenberg EBook #{gid}\r\n[EBook #{gid}]\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\r\n"
            f"{body}\r\n*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nlicense text\r\n")
    (folder / "SOURCE.md").write_text("| `pg19-test-10146-x.txt` | 10146.txt, the first PG-19 test book |\n")
    return train_dir, folder / "SOURCE.md"


def run_node(args: list[str]) -> str:
    """Runs node / npx tsx in the repository root (so imports resolve there) and returns stdout."""
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args[:2])} failed: {done.stderr[-3000:]}")
    return done.stdout


class PipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="perpetua-train-test-"))
        if data.CORPUS.exists() and data.SOURCE_MD.exists():
            cls.corpus, cls.source_md = data.CORPUS, data.SOURCE_MD
        else:
            cls.corpus, cls.source_md = synthetic_corpus(cls.tmp / "corpus")
        cls.data_dir = cls.tmp / "data"
        cls.meta = data.prepare(cls.data_dir, vocab_size=512, tokenizer_chars=400_000, max_train_tokens=250_000,
                                max_val_tokens=20_000, corpus=cls.corpus, source_md=cls.source_md, max_books=4)
        cls.bpe = tok.load(cls.data_dir)
        cls.runs = {}
        for variant in ("vanilla", "sink"):
            out = cls.tmp / variant
            args = train.parse_args(["--preset", "cpu-tiny", "--variant", variant, "--out", str(out),
                                     "--data-dir", str(cls.data_dir), *TINY])
            train.train(args)
            cls.runs[variant] = out

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def log(self, variant: str) -> list[dict]:
        return [json.loads(line) for line in (self.runs[variant] / "train_log.jsonl").read_text().splitlines()]

    # --------------------------------------------------------------------------------------- training

    def test_loss_decreases(self):
        for variant in self.runs:
            losses = [r["loss"] for r in self.log(variant) if "loss" in r]
            self.assertEqual(len(losses), 40)
            first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
            self.assertLess(last, first - 0.5, f"{variant}: loss {first:.3f} -> {last:.3f}")

    def test_sink_token_at_position_zero_of_every_row(self):
        sink_id = self.bpe.token_id(tok.SINK)
        self.assertEqual(sink_id, 3)
        stream = data.TokenStream(self.data_dir / "train.bin", 64, 8, sink_id=sink_id, seed=1)
        for _ in range(20):
            x, y = stream.batch()
            self.assertEqual(tuple(x.shape), (8, 64))
            self.assertTrue(bool((x[:, 0] == sink_id).all()))
            self.assertTrue(torch.equal(x[:, 1:], y[:, :-1]))
            self.assertFalse(bool((x[:, 1:] == sink_id).any()))
        x, _ = data.TokenStream(self.data_dir / "train.bin", 64, 8, seed=1).batch()
        self.assertFalse(bool((x == sink_id).any()), "the corpus itself never holds <sink>")
        sink_cfg = json.loads((self.runs["sink"] / "config.json").read_text())
        self.assertEqual(sink_cfg["perpetua_sink_token"], "<sink>")
        self.assertEqual(json.loads((self.runs["sink"] / "tokenizer_config.json").read_text())["perpetua_sink_token"], "<sink>")
        self.assertIsNone(json.loads((self.runs["vanilla"] / "config.json").read_text())["perpetua_sink_token"])

    def test_evaluation_and_sink_measurement_run(self):
        for variant in self.runs:
            model, hf = load_model(self.runs[variant])
            val = np.fromfile(self.data_dir / "val.bin", dtype=np.uint16)[:5000]
            ppl = perplexity(model, hf, val)
            self.assertTrue(1 < ppl["val_ppl"] < 512, ppl)
            sinks = first_token_attention(model, hf, val, windows=2)
            shares = np.array(sinks["per_layer_head_share_first_token"])
            self.assertEqual(shares.shape, (2, 4))
            self.assertTrue(((shares >= 0) & (shares <= 1)).all())

    # --------------------------------------------------------------------------------------- data

    def test_held_out_books_are_refused(self):
        refused = data.held_out_ids(self.source_md)
        self.assertIn(10146, refused)
        fake = self.tmp / "10146.txt"
        fake.write_text("[EBook #10146]\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\ntext\n")
        with self.assertRaises(data.HeldOutBookError):
            data.load_book(fake, refused)
        renamed = self.tmp / "99999.txt"  # renamed, but the header still says #10146
        renamed.write_text(fake.read_text())
        with self.assertRaises(data.HeldOutBookError):
            data.load_book(renamed, refused)
        self.assertFalse(refused & set(self.meta["train"]["books"] + self.meta["val"]["books"]))
        self.assertFalse(set(self.meta["train"]["books"]) & set(self.meta["val"]["books"]))

    def test_gutenberg_header_and_footer_stripped(self):
        text = data.strip_gutenberg("header\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ***\nbody line\n"
                                    "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\nlicense\n")
        self.assertEqual(text, "body line\n")
        for gid in self.meta["train"]["books"][:2]:
            body = data.load_book(self.corpus / f"{gid}.txt", set())
            self.assertNotIn("*** START OF", body)
            self.assertNotIn("Project Gutenberg License", body)

    # --------------------------------------------------------------------------------------- tokenizer

    def sample_strings(self) -> list[str]:
        book = data.load_book(self.corpus / f"{self.meta['val']['books'][0]}.txt", set())
        return STRINGS + [book[:3000]]

    def test_tokenizer_round_trips(self):
        for s in self.sample_strings():
            self.assertEqual(self.bpe.decode(self.bpe.encode(s)), s)

    @unittest.skipUnless(NODE, "node / node_modules missing")
    def test_tokenizer_matches_huggingface_tokenizers_js(self):
        strings = self.sample_strings() + ["text with <s> and <sink> inside"]
        req = self.tmp / "tok-strings.json"
        req.write_text(json.dumps(strings))
        code = ("Promise.all([import('@huggingface/tokenizers'), import('node:fs')]).then(([{Tokenizer}, fs]) => {"
                "const d = process.argv[1]; const t = new Tokenizer(JSON.parse(fs.readFileSync(d + '/tokenizer.json', 'utf8')),"
                " JSON.parse(fs.readFileSync(d + '/tokenizer_config.json', 'utf8')));"
                "const ss = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));"
                "console.log(JSON.stringify(ss.map(s => { const ids = t.encode(s, {add_special_tokens: false}).ids;"
                " return {ids, text: ids.length ? t.decode(ids, {skip_special_tokens: true}) : ''}; }))); })")
        out = json.loads(run_node(["node", "-e", code, str(self.runs["sink"]), str(req)]))
        for s, js in zip(strings, out):
            self.assertEqual(js["ids"], self.bpe.encode(s), repr(s[:60]))
            self.assertEqual(js["text"], self.bpe.decode(self.bpe.encode(s)), repr(s[:60]))

    # --------------------------------------------------------------------------------------- export

    @unittest.skipUnless(NODE, "node / node_modules missing")
    def test_safetensors_read_by_typescript_reader(self):
        tensors = {"a.weight": torch.randn(3, 5), "b": torch.arange(7, dtype=torch.float32) / 3}
        for dtype in ("F32", "F16"):
            path = self.tmp / f"probe-{dtype}.safetensors"
            safetensors_io.save(path, tensors, dtype)
            code = ("import('./native-models/safetensors.ts').then(m => { const t = m.readSafetensors(process.argv[1]);"
                    " console.log(JSON.stringify(Object.fromEntries([...t].map(([k, v]) => [k, {shape: v.shape,"
                    " data: Array.from(v.data)}])))); })")
            out = json.loads(run_node(["npx", "tsx", "-e", code, str(path)]))
            self.assertEqual(sorted(out), sorted(tensors))
            for name, t in tensors.items():
                self.assertEqual(out[name]["shape"], list(t.shape))
                want = t.numpy().astype("<f2" if dtype == "F16" else "<f4").astype(np.float32).ravel()
                np.testing.assert_array_equal(np.array(out[name]["data"], dtype=np.float32), want)
        keys = json.loads(run_node(
            ["npx", "tsx", "-e", "import('./native-models/safetensors.ts').then(m => console.log("
             "JSON.stringify([...m.readSafetensors(process.argv[1]).keys()])))", str(self.runs["vanilla"] / "model.safetensors")]))
        self.assertIn("model.layers.1.self_attn.q_proj.weight", keys)
        self.assertIn("model.norm.weight", keys)
        self.assertEqual(len(keys), 1 + 2 * 9 + 1)

    def test_sharded_export_round_trips(self):
        model, _ = load_model(self.runs["vanilla"])
        folder = self.tmp / "sharded"
        folder.mkdir()
        files = safetensors_io.save_model(folder, model.hf_state_dict(), "F16", max_shard_bytes=100_000)
        self.assertGreater(len(files), 1)
        self.assertTrue((folder / "model.safetensors.index.json").exists())
        back = safetensors_io.load_model(folder)
        for k, v in model.hf_state_dict().items():
            np.testing.assert_allclose(back[k], v.numpy(), atol=2e-3, rtol=1e-2)

    @unittest.skipUnless(NODE, "node / node_modules missing")
    def test_onnx_conversion_matches_pytorch_logits(self):
        text = "It was a dark and stormy night; the rain fell in torrents."
        code = ("Promise.all([import('./native-models/convert-hf.ts'), import('./main/engine/model.ts'), import('node:fs')])"
                ".then(async ([c, m, fs]) => { const [src, out, reqFile] = process.argv.slice(1);"
                " const req = JSON.parse(fs.readFileSync(reqFile, 'utf8'));"
                " c.convertHfModel(src, out, { layout: req.layout }); const model = await m.Model.load(out);"
                " const r = await model.forward(req.ids, req.positions, []);"
                " console.log(JSON.stringify({logits: Array.from(r.logits), vocab: model.vocabSize,"
                " encoded: model.tokenizer.encode(req.text, true)})); await model.dispose(); })")
        # the reference graph takes any positions; the fused one (GroupQueryAttention) puts tokens at the cache length
        for variant, offset, layout in (("vanilla", 37, "reference"), ("sink", 0, "fused")):
            ids = self.bpe.encode(text, add_bos=True)
            if variant == "sink":
                ids = [self.bpe.token_id(tok.SINK)] + ids
            positions = [offset + i for i in range(len(ids))]
            req = self.tmp / f"onnx-{variant}.json"
            req.write_text(json.dumps({"ids": ids, "positions": positions, "text": text, "layout": layout}))
            out = json.loads(run_node(["npx", "tsx", "-e", code, str(self.runs[variant]),
                                       str(self.tmp / f"onnx-{variant}"), str(req)]))
            self.assertEqual(out["encoded"], self.bpe.encode(text, add_bos=True))
            model, _ = load_model(self.runs[variant])
            with torch.no_grad():
                ref = model(torch.tensor([ids]), positions=torch.tensor(positions))[0][0].double().numpy()
            onnx = np.array(out["logits"], dtype=np.float64).reshape(len(ids), out["vocab"])
            worst = float(np.abs(onnx - ref).max())
            self.assertLess(worst, 1e-4, f"{variant}: max |ONNX - PyTorch| = {worst}")


if __name__ == "__main__":
    unittest.main()

package io.megalith.core.train;

import static io.megalith.core.train.TinyRuns.CONF;
import static io.megalith.core.train.TinyRuns.QUIET;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import io.megalith.core.checkpoint.CheckpointStore;
import io.megalith.core.checkpoint.SafetensorsFile;
import io.megalith.core.checkpoint.SafetensorsWeights;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.data.Batch;
import io.megalith.core.data.PairsData;
import io.megalith.core.family.ModelFamilies;
import io.megalith.core.family.gpt.GptRun;
import io.megalith.core.finetune.ModelFiles;
import io.megalith.core.inference.RunCheckpoint;
import io.megalith.core.inference.TrainedGpt;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraLinear;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.outputs.LoraCheck;
import io.megalith.core.train.outputs.LoraOutputs;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GPT fine-tuning through TrainingRun: a tiny `megalith train` run is the base (checkpoint.init_from its run.dir),
 * the built-in upper pairs the task, LoRA adapters what trains.
 */
class FinetuneRunTest {
    @TempDir
    static Path tmp;

    static Path text;
    static MegalithConfig baseCfg;

    /** Random lower-case words in sentences, and every capital letter (so the base's vocabulary has them). */
    static Path writeWords(Path dir) throws Exception {
        Random rnd = new Random(3);
        StringBuilder sb = new StringBuilder("ABCDEFGHIJKLMNOPQRSTUVWXYZ:\n");
        for (int line = 0; line < 200; line++) {
            for (int w = 0; w < 6; w++) {
                int len = 3 + rnd.nextInt(4);
                for (int i = 0; i < len; i++) {
                    sb.append((char) ('a' + rnd.nextInt(26)));
                }
                sb.append(w == 5 ? ".\n" : " ");
            }
        }
        Path f = dir.resolve("words.txt");
        Files.writeString(f, sb);
        return f;
    }

    @BeforeAll
    static void trainBase() throws Exception {
        text = writeWords(tmp);
        baseCfg = TinyRuns.text(tmp.resolve("base"), text, "model.dropout=0.0", "train.max_steps=20",
                "checkpoint.every=0");
        TinyRuns.train(baseCfg, 20);
    }

    static MegalithConfig finetune(String dir, String... more) {
        List<String> o = new ArrayList<>(List.of("model.dropout=0.0", "data.task=pairs", "data.path=null",
                "data.builtin=upper", "data.eval_pairs=16", "checkpoint.init_from=" + tmp.resolve("base"),
                "finetune.lora.rank=4", "finetune.lora.alpha=8", "train.max_steps=40", "train.lr=1.0e-2",
                "train.min_lr=1.0e-3", "train.warmup_steps=0", "train.eval_every=40", "train.batch_size=8",
                "train.grad_accum=1", "train.eval_batches=2", "checkpoint.every=0"));
        o.addAll(List.of(more));
        return TinyRuns.text(tmp.resolve(dir), text, o.toArray(String[]::new));
    }

    @Test
    void loraFineTuneLowersTheAnswerLossAndWritesAdaptersAndMerged() throws Exception {
        MegalithConfig cfg = finetune("lora");
        TrainingRun.Summary s;
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, QUIET)) {
            assertThat(((GptRun) run.rankModel()).data()).isInstanceOf(PairsData.class);
            s = run.run();
        }
        List<Map<String, Object>> evals = TinyRuns.metrics(cfg).stream().filter(r -> r.containsKey("answer_loss")).toList();
        assertThat(evals).hasSize(2);
        double before = ((Number) evals.get(0).get("answer_loss")).doubleValue();
        double after = ((Number) evals.get(1).get("answer_loss")).doubleValue();
        // only the adapters train (the tied embeddings stay frozen), on a base that saw each capital once: the loss
        // falls to about the uniform choice among capitals within these few steps
        assertThat(after).as("held-out answer loss after vs before").isLessThan(0.85 * before);
        assertThat(evals.get(1)).containsKey("exact_match");
        assertThat(s.samples()).isNotEmpty();
        // the base's tokenizer, not one fitted on the pairs
        assertThat(Files.readAllBytes(tmp.resolve("lora").resolve(TrainingRun.TOKENIZER_FILE)))
                .isEqualTo(Files.readAllBytes(tmp.resolve("base").resolve(TrainingRun.TOKENIZER_FILE)));

        Map<String, HostTensor> last = new CheckpointStore(cfg.run().dir(), CONF, 0).loadLatest().orElseThrow()
                .tensorFiles().get(TrainingRun.MODEL_FILE);
        ModelFiles.Adapters adapters = ModelFiles.loadAdapters(tmp.resolve("lora").resolve(LoraOutputs.ADAPTERS_FILE));
        assertThat(adapters.config()).isEqualTo(cfg.finetune().loraConfig());
        assertThat(adapters.tensors().keySet()).allMatch(Lora::isAdapter).hasSize(4 * 2 * 2); // 2 blocks x 4 layers
        SafetensorsFile merged = ModelFiles.load(tmp.resolve("lora").resolve(LoraOutputs.MERGED_FILE));
        assertThat(merged.metadata()).containsEntry("gpt.n_head", "4").containsEntry("gpt.n_layer", "2");
        Map<String, HostTensor> base = SafetensorsWeights.read(tmp.resolve("base").toString(),
                CONF);
        assertThat(merged.tensors().keySet()).isEqualTo(base.keySet());
        for (String name : base.keySet()) {
            boolean adapted = adapters.tensors().containsKey(name.replace(".weight", "." + LoraLinear.A));
            if (!adapted) { // frozen under LoRA: the base's, bit for bit
                assertThat(merged.tensors().get(name).contentEquals(base.get(name))).as(name).isTrue();
                assertThat(last.get(name).contentEquals(base.get(name))).as(name).isTrue();
            } else {
                assertThat(merged.tensors().get(name).contentEquals(last.get(name))).as("%s has the adapter folded in", name)
                        .isFalse();
            }
        }
        // the adapters file alone, merged into the base, gives the merged file
        Map<String, HostTensor> remerged = ModelFiles.mergeAdapters(base, adapters);
        for (String name : base.keySet()) {
            assertThat(remerged.get(name).contentEquals(merged.tensors().get(name))).as(name).isTrue();
        }
        // the run dir stays a normal run dir: it loads (with its adapters) for generation
        try (TrainedGpt trained = TrainedGpt.load(RunCheckpoint.latest(cfg.run().dir()), CONF, 1)) {
            assertThat(trained.model().parameters().stream().anyMatch(p -> Lora.isAdapter(p.name()))).isTrue();
            int vocab = trained.model().config().vocabSize();
            long[] ids = new Random(1).longs(2 * 16, 0, vocab).toArray();
            double diff = LoraCheck.maxLogitDiff(trained.model().config(), cfg.finetune().loraConfig(), last,
                    merged.tensors(), new Batch(ids, ids.clone(), 2, 16), trained.manager());
            assertThat(diff).as("base + adapters vs merged logits").isLessThan(1e-4);
        }
    }
    /** Fresh adapters (B = 0) on the base's weights: the fine-tune starts from exactly the base's function. */
    @Test
    void theFineTuneStartsFromTheBase() throws Exception {
        MegalithConfig cfg = finetune("start");
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, QUIET);
                TrainedGpt base = TrainedGpt.load(RunCheckpoint.latest(tmp.resolve("base").toString()), CONF, 1)) {
            Batch b = ((GptRun) run.rankModel()).data().validation(0, 4);
            try (NDScope scope = new NDScope(); NDManager m = base.manager().newSubManager()) {
                float[] a = ((GptRun) run.rankModel()).model().logits(Ops.longs(m, b.inputs(), b.size(), b.seqLen()), ForwardContext.inference(m))
                        .toFloatArray();
                float[] c = base.model().logits(Ops.longs(m, b.inputs(), b.size(), b.seqLen()), ForwardContext.inference(m))
                        .toFloatArray();
                assertThat(a).containsExactly(c);
            }
        }
    }

    /**
     * A LoRA fine-tune's merged.safetensors (with the run's tokenizer.json: checkpoint.init_tokenizer) is the base of
     * the next fine-tune, here a full one with the embeddings and block 0 frozen, the built-in pairs taking their
     * words from data.path: it starts where the first one ended.
     */
    @Test
    void aMergedFileIsTheBaseOfTheNextFineTune() throws Exception {
        MegalithConfig first = finetune("first", "train.max_steps=10", "train.eval_every=10");
        TinyRuns.train(first, 10);
        Path dir = tmp.resolve("first");
        MegalithConfig next = finetune("next", "checkpoint.init_from=" + dir.resolve(LoraOutputs.MERGED_FILE),
                "checkpoint.init_tokenizer=" + dir.resolve(TrainingRun.TOKENIZER_FILE), "data.path=" + text,
                "finetune.lora.rank=0", "finetune.freeze=[wte., wpe., blocks.0.]", "train.max_steps=10",
                "train.eval_every=10", "train.lr=3.0e-3");
        TinyRuns.train(next, 10);
        Map<String, HostTensor> start = SafetensorsWeights.read(
                dir.resolve(LoraOutputs.MERGED_FILE).toString(), CONF);
        Map<String, HostTensor> end = new CheckpointStore(next.run().dir(), CONF, 0).loadLatest().orElseThrow()
                .tensorFiles().get(TrainingRun.MODEL_FILE);
        for (String name : start.keySet()) {
            boolean frozen = name.startsWith("wte.") || name.startsWith("wpe.") || name.startsWith("blocks.0.");
            assertThat(end.get(name).contentEquals(start.get(name))).as(name + (frozen ? " frozen" : " trained"))
                    .isEqualTo(frozen);
        }
        List<Double> a = TinyRuns.metrics(first).stream().filter(r -> r.containsKey("answer_loss"))
                .map(r -> ((Number) r.get("answer_loss")).doubleValue()).toList();
        List<Double> b = TinyRuns.metrics(next).stream().filter(r -> r.containsKey("answer_loss"))
                .map(r -> ((Number) r.get("answer_loss")).doubleValue()).toList();
        assertThat(b.get(0)).as("the next fine-tune starts where the first ended")
                .isCloseTo(a.get(a.size() - 1), Percentage.withPercentage(1e-2));
        assertThat(b.get(b.size() - 1)).isLessThan(b.get(0));
        assertThat(tmp.resolve("next").resolve(LoraOutputs.MERGED_FILE)).as("no LoRA, no merged file").doesNotExist();
    }

    /** Continued causal LM on a text in the base's vocabulary, embeddings and block 0 frozen: they stay the base's. */
    @Test
    void continuedCausalLmKeepsTheFrozenParametersBitForBit() throws Exception {
        MegalithConfig cfg = finetune("causal", "data.task=text", "data.builtin=null", "data.path=" + text,
                "finetune.lora.rank=0", "finetune.freeze=[wte., wpe., blocks.0.]", "train.max_steps=10",
                "train.eval_every=10", "train.lr=3.0e-3");
        try (TrainingRun run = ModelFamilies.GPT.newInProcessRun(cfg, CONF, QUIET)) {
            run.run();
        }
        Map<String, HostTensor> base = SafetensorsWeights.read(tmp.resolve("base").toString(),
                CONF);
        Map<String, HostTensor> end = new CheckpointStore(cfg.run().dir(), CONF, 0).loadLatest().orElseThrow()
                .tensorFiles().get(TrainingRun.MODEL_FILE);
        for (String name : base.keySet()) {
            boolean frozen = name.startsWith("wte.") || name.startsWith("wpe.") || name.startsWith("blocks.0.");
            assertThat(end.get(name).contentEquals(base.get(name))).as(name).isEqualTo(frozen);
        }
        List<Double> val = TinyRuns.metrics(cfg).stream().filter(r -> r.containsKey("val_loss"))
                .map(r -> ((Number) r.get("val_loss")).doubleValue()).toList();
        assertThat(val.get(val.size() - 1)).isLessThan(val.get(0));
        assertThat(tmp.resolve("causal").resolve(LoraOutputs.ADAPTERS_FILE)).doesNotExist();
    }

    /** A fine-tune stopped at step 20 resumes from its checkpoint (not from the base) and follows the straight run. */
    @Test
    void aStoppedFineTuneResumesFromItsCheckpoint() throws Exception {
        MegalithConfig straight = finetune("straight", "checkpoint.every=10");
        TinyRuns.train(straight, 40);
        MegalithConfig broken = finetune("broken", "checkpoint.every=10");
        assertThat(TinyRuns.train(broken, 20)).isZero();
        assertThat(TinyRuns.train(broken, 40)).isEqualTo(20);
        List<Double> a = TinyRuns.series(TinyRuns.metrics(straight), "loss");
        List<Double> b = TinyRuns.series(TinyRuns.metrics(broken), "loss");
        assertThat(b).hasSize(40);
        for (int i = 0; i < a.size(); i++) {
            assertThat(b.get(i)).as("step %d", i + 1).isCloseTo(a.get(i), Percentage.withPercentage(1e-3));
        }
    }

    @Test
    void aBaseOfAnotherShapeOrVocabularyFailsClearly() {
        assertThatThrownBy(() -> ModelFamilies.GPT.newInProcessRun(finetune("shape", "model.n_layer=3"), CONF, QUIET).close())
                .hasMessageContaining("checkpoint.init_from").hasMessageContaining("model.n_layer=2");
        MegalithConfig pairsFile = finetune("vocab", "data.builtin=null", "data.path=" + tmp.resolve("bad.tsv"));
        assertThatThrownBy(() -> {
            Files.writeString(tmp.resolve("bad.tsv"), "a: \t\u00e9\nb: \tB\nc: \tC\n");
            ModelFamilies.GPT.newInProcessRun(pairsFile, CONF, QUIET).close();
        }).hasMessageContaining("base run's vocabulary");
    }

    @Test
    void configProblemsNameTheKeyAndTheFix() {
        assertThatThrownBy(() -> finetune("x", "data.builtin=lower")).hasMessageContaining("data.builtin");
        assertThatThrownBy(() -> finetune("x", "checkpoint.init_from=")).hasMessageContaining(
                "data.builtin: upper takes its words from data.path");
        assertThat(finetune("x", "data.path=" + text).data().builtin()).as("words of data.path").isEqualTo("upper");
        assertThatThrownBy(() -> finetune("x", "checkpoint.init_tokenizer=t.json", "checkpoint.init_from="))
                .hasMessageContaining("checkpoint.init_tokenizer");
        MegalithConfig random = ConfigLoader.fromYaml(ConfigLoader.toYaml(finetune("x")), List.of(
                "checkpoint.init_from=", "data.builtin=null", "data.path=p.tsv"), "t");
        assertThat(random.warnings()).singleElement().asString().contains("checkpoint.init_from");
    }
}

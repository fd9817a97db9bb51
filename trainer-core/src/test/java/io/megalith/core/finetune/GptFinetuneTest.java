package io.megalith.core.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import io.megalith.core.checkpoint.SafetensorsFile;
import io.megalith.core.data.tokenizer.Tokenizer;
import io.megalith.core.lora.Lora;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.Gpt;
import io.megalith.core.model.GptConfig;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.train.TinyRuns;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GPT fine-tuning end to end: a tiny GPT trained by TrainingRun in a temp run dir is the base (read through
 * TrainedModel); LoRA on the built-in prompt -> answer pairs lowers the answer loss, leaves every base weight
 * unchanged, writes adapters that reload (metadata and tensors) and a merged model whose logits are those of base +
 * adapters; continued causal LM with the first block frozen keeps that block bit-identical.
 */
class GptFinetuneTest {
    private static NDManager root;
    @TempDir
    static Path dir;
    private static Path runDir;
    private static Path text;

    @BeforeAll
    static void trainBase() throws Exception {
        Torch.load(1);
        root = Torch.newManager();
        Path data = Files.createDirectories(dir.resolve("data"));
        text = TinyRuns.writeText(data, 6000);
        String words = Files.readString(text) + "\nThe quick brown fox jumps over the lazy dog.\n";
        // capitals the base has seen (a tied head cannot learn rows of never-seen tokens through adapters)
        Files.writeString(text, words + words.toUpperCase(java.util.Locale.ROOT));
        runDir = dir.resolve("base-run");
        TinyRuns.train(TinyRuns.text(runDir, text, "model.block_size=24", "model.dropout=0.0", "train.max_steps=150",
                "train.eval_every=150", "checkpoint.every=150"), 150);
    }

    @AfterAll
    static void close() {
        root.close();
    }

    private static GptFinetune.Settings settings(String task, String path, String builtin, LoraConfig lora, int freezeBlocks,
            int steps, Path out) {
        return new GptFinetune.Settings(5, runDir.toString(), null, null, 0, task, path, builtin, null, 0.1, 0, steps, 16,
                1e-2, 0.0, List.of(), freezeBlocks, lora, Math.max(1, steps / 5), out.toString(), true, List.of(), 16, 0.0, 0);
    }

    @Test
    void loraOnBuiltInPairs() throws Exception {
        LoraConfig lora = new LoraConfig(4, 8, List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"));
        Path out = dir.resolve("lora-out");
        GptFinetune.Settings s = settings("pairs", null, "upper", lora, 0, 300, out);
        GptFinetune.Base base = GptFinetune.loadBase(s, TinyRuns.CONF, 1);
        assertThat(base.description()).contains("at step 150");
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        GptFinetune.Outcome o = GptFinetune.run(s, base, root, new PrintStream(log, true));
        System.out.print(log);
        assertThat(o.lastTrainLoss()).as("answer loss falls").isLessThan(0.7 * o.firstTrainLoss());
        assertThat(o.evalLossAfter()).as("held-out answer loss falls").isLessThan(o.evalLossBefore());
        assertThat(o.mergedMaxDiff()).as("merged = base + adapters").isLessThan(1e-4);
        assertThat(o.trainableElements()).isLessThan(o.modelElements() / 4);
        assertThat(o.adapterBytes()).isLessThan(o.modelBytes() / 4);
        assertThat(o.generations()).isNotEmpty();

        // the adapter file: adapters only, with rank/alpha/targets, and it reloads under the base
        ModelFiles.Adapters adapters = ModelFiles.loadAdapters(out.resolve(GptFinetune.ADAPTERS_FILE));
        assertThat(adapters.config()).isEqualTo(lora);
        assertThat(adapters.tensors().keySet()).allMatch(Lora::isAdapter).hasSize(2 * 4 * 2);
        SafetensorsFile merged = ModelFiles.load(out.resolve(GptFinetune.MERGED_FILE));
        assertThat(merged.tensors().keySet()).containsExactlyInAnyOrderElementsOf(base.state().keySet());
        int changed = 0;
        for (String k : base.state().keySet()) {
            boolean adapted = k.matches("blocks\\.\\d+\\.(attn\\.(qkv|proj)|mlp\\.(fc|proj))\\.weight");
            boolean same = merged.tensors().get(k).contentEquals(base.state().get(k));
            assertThat(same).as("%s: only adapted weights differ from the base", k).isEqualTo(!adapted);
            changed += adapted ? 1 : 0;
        }
        assertThat(changed).isEqualTo(8);
        Map<String, HostTensor> remerged = ModelFiles.mergeAdapters(base.state(), adapters);
        for (String k : remerged.keySet()) {
            assertThat(remerged.get(k).contentEquals(merged.tensors().get(k))).as("re-merged %s", k).isTrue();
        }
        // base + reloaded adapters in a LoRA GPT computes the merged model's logits
        GptConfig cfg = GptFinetune.shapeOf(merged.tensors(), merged.metadata(), 0, "merged");
        assertThat(cfg.nHead()).isEqualTo(base.config().nHead());
        Gpt withAdapters = new Gpt(cfg, adapters.config());
        List<io.megalith.core.data.Pairs.Example> ex = examples(base.tokenizer(), cfg.blockSize());
        try (ParameterStore store = new ParameterStore(withAdapters, root, 0)) {
            Map<String, HostTensor> all = new LinkedHashMap<>(base.state());
            all.putAll(adapters.tensors());
            store.load(all);
            withAdapters.initConstants(store.manager());
            double diff = GptFinetune.maxDiff(GptFinetune.logits(withAdapters, ex, root),
                    GptFinetune.logitsOf(cfg, merged.tensors(), ex, root));
            assertThat(diff).isLessThan(1e-4);
            assertThat(GptFinetune.maxDiff(GptFinetune.logits(withAdapters, ex, root),
                    GptFinetune.logitsOf(cfg, base.state(), ex, root))).as("the adapters matter").isGreaterThan(1e-3);
        }
        // the merged file is a base for the next fine-tuning (shape from its metadata)
        GptFinetune.Settings next = new GptFinetune.Settings(5, null, out.resolve(GptFinetune.MERGED_FILE).toString(),
                out.resolve(GptFinetune.TOKENIZER_FILE).toString(), 0, "pairs", null, "upper", text.toString(), 0.1, 0, 1,
                4, 1e-3, 0.0, List.of(), 0, LoraConfig.NONE, 1, dir.resolve("next").toString(), true, List.of("king "), 4, 0.0, 0);
        GptFinetune.Base again = GptFinetune.loadBase(next, TinyRuns.CONF, 1);
        assertThat(again.config().nLayer()).isEqualTo(2);
    }

    @Test
    void causalLmWithTheFirstBlockFrozen() throws Exception {
        Path out = dir.resolve("lm-out");
        GptFinetune.Settings s = settings("causal_lm", text.toString(), null, LoraConfig.NONE, 1, 30, out);
        GptFinetune.Base base = GptFinetune.loadBase(s, TinyRuns.CONF, 1);
        GptFinetune.Outcome o = GptFinetune.run(s, base, root, TinyRuns.QUIET);
        assertThat(o.evalLossAfter()).isLessThan(o.evalLossBefore());
        assertThat(Double.isNaN(o.exactAfter())).isTrue();
        Map<String, HostTensor> tuned = ModelFiles.load(out.resolve(GptFinetune.FINETUNED_FILE)).tensors();
        for (String k : base.state().keySet()) {
            boolean frozen = k.startsWith("blocks.0.");
            assertThat(tuned.get(k).contentEquals(base.state().get(k))).as("%s", k).isEqualTo(frozen);
        }
    }

    private static List<io.megalith.core.data.Pairs.Example> examples(Tokenizer tok, int block) {
        List<io.megalith.core.data.Pairs.Example> ex = new ArrayList<>();
        for (String w : List.of("king", "queen", "river")) {
            ex.add(GptFinetune.pairExample(tok, new String[] {w + " ", w.toUpperCase()}, GptFinetune.endOfAnswer(tok), block));
        }
        return ex;
    }
}

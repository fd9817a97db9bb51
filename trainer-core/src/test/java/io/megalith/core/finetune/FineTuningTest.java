package io.megalith.core.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.family.bert.speakers.SpeakerConfig;
import io.megalith.core.family.bert.speakers.SpeakerExperiment;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.Bert;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.ModuleTrainer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Fine-tuning plumbing: a pre-trained BERT checkpoint loads into the sequence classifier (only the head is
 * fresh; the encoder computes exactly what the checkpoint's did), mismatches fail with the tensor's name, a
 * classifier learns a separable task, and the speaker data keeps its test lines out of pre-training.
 */
class FineTuningTest {
    private static NDManager root;

    @BeforeAll
    static void load() {
        Torch.load(1);
        root = Torch.newManager();
    }

    @AfterAll
    static void close() {
        root.close();
    }

    private static BertConfig cfg() {
        return new BertConfig(12, 8, 2, 2, 2, 16, 0.0, true, false, true, 0, LoraConfig.NONE);
    }

    @Test
    void pretrainedEncoderLoadsUnderAFreshHead() {
        Bert bert = new Bert(cfg());
        Map<String, HostTensor> checkpoint;
        long[] ids = new Random(1).longs(3 * 8, 4, 12).toArray();
        float[] expected;
        try (ParameterStore s = new ParameterStore(bert, root, 77)) {
            checkpoint = s.toHost();
            expected = pooled(bert, ids);
        }
        SequenceClassifier clf = new SequenceClassifier(cfg(), 3);
        try (ParameterStore s = new ParameterStore(clf, root, 5)) {
            List<String> fresh = Pretrained.load(s, checkpoint, n -> n.startsWith("classifier."));
            assertThat(fresh).containsExactlyInAnyOrder("classifier.weight", "classifier.bias");
            assertThat(pooled(clf.bert(), ids)).containsExactly(expected);
            Map<String, HostTensor> partial = new LinkedHashMap<>(checkpoint);
            partial.remove("layers.1.attn.qkv.weight");
            assertThatThrownBy(() -> Pretrained.load(s, partial, n -> n.startsWith("classifier.")))
                    .hasMessageContaining("layers.1.attn.qkv.weight");
            Map<String, HostTensor> wrong = new LinkedHashMap<>(checkpoint);
            wrong.put("pooler.dense.bias", HostTensor.ofFloats(new float[3], 3));
            assertThatThrownBy(() -> Pretrained.load(s, wrong, n -> n.startsWith("classifier.")))
                    .hasMessageContaining("pooler.dense.bias");
        }
    }

    private static float[] pooled(Bert bert, long[] ids) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            PtNDArray h = bert.encode(Ops.longs(m, ids, 3, 8), null, null, ForwardContext.inference(m));
            return bert.pooled(h).toFloatArray();
        }
    }

    /** Label = which of three tokens the sequence contains: learnable from [CLS] through attention. */
    @Test
    void classifierLearnsASeparableTask() {
        SequenceClassifier clf = new SequenceClassifier(cfg(), 3);
        Random r = new Random(4);
        int b = 24;
        long[] ids = new long[b * 8];
        long[] labels = new long[b];
        for (int i = 0; i < b; i++) {
            labels[i] = i % 3;
            ids[i * 8] = 1;
            int len = 3 + r.nextInt(5);
            for (int j = 1; j < len; j++) {
                ids[i * 8 + j] = 7 + r.nextInt(5);
            }
            ids[i * 8 + 1 + r.nextInt(len - 1)] = 4 + labels[i];
            ids[i * 8 + len] = 2;
        }
        try (ModuleTrainer t = new ModuleTrainer(clf, root, 3, ModuleTrainer.Settings.of(3e-3, 150))) {
            for (int step = 0; step < 150; step++) {
                t.step(step, ctx -> clf.loss(ids, labels, b, 8, ctx));
            }
            int[] pred = t.eval(ctx -> clf.predict(ids, b, 8, ctx));
            int hits = 0;
            for (int i = 0; i < b; i++) {
                hits += pred[i] == labels[i] ? 1 : 0;
            }
            assertThat(hits).isGreaterThanOrEqualTo(22);
        }
    }

    @Test
    void speakerDataKeepsTestLinesOutOfPretraining() {
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < 40; i++) {
            text.append(i % 3 == 0 ? "ROMEO:\n" : i % 3 == 1 ? "JULIET:\n" : "NURSE:\n");
            text.append("line ").append(i).append(" a\nline ").append(i).append(" b\n\n");
        }
        text.append("MERCUTIO:\nonly once\n\n");
        ShakespeareSpeakers d = new ShakespeareSpeakers(text.toString(), 2, 0.3, 1);
        assertThat(d.speakers()).containsExactly("ROMEO", "JULIET"); // 28 lines, then 26 (tied with NURSE: by name)
        assertThat(d.testLines()).isNotEmpty().allMatch(l -> d.speakers().contains(l.speaker()));
        assertThat(d.pretrainingLines()).doesNotContainAnyElementsOf(d.testLines());
        assertThat(d.pretrainingLines().size() + d.testLines().size()).isEqualTo(40 * 2 + 1);
        assertThat(d.trainLines().size() + d.testLines().size()).isEqualTo(28 + 26);
        long[] enc = d.encode("ab", 6);
        assertThat(enc[0]).isEqualTo(ShakespeareSpeakers.CLS);
        assertThat(enc[3]).isEqualTo(ShakespeareSpeakers.SEP);
        assertThat(enc[4]).isEqualTo(ShakespeareSpeakers.PAD);
        long[][] pair = d.encodePair("ab", "cd", 9);
        assertThat(pair[0][3]).isEqualTo(ShakespeareSpeakers.SEP);
        assertThat(pair[0][6]).isEqualTo(ShakespeareSpeakers.SEP);
        assertThat(pair[1]).containsExactly(0, 0, 0, 0, 1, 1, 1, 0, 0);
        long[][] batch = d.pretrainingBatch(1, 0, 50, 16, true);
        long nextPairs = Arrays.stream(batch[2]).filter(x -> x == 0).count();
        // "is next" only when the line continues the same speech (2 lines each here, minus test lines): ~1 in 5
        assertThat(nextPairs).isBetween(3L, 25L);
    }

    /** The shipped config binds; overrides apply; unknown keys fail with their path. */
    @Test
    void shippedConfigLoads() throws Exception {
        Path conf = Path.of("../conf/bert-shakespeare-speakers.yaml");
        SpeakerConfig.Loaded l = SpeakerConfig.load(conf, List.of("finetune.steps=7", "finetune.freeze=[embeddings.]"));
        assertThat(l.settings().finetuneSteps()).isEqualTo(7);
        assertThat(l.settings().freeze()).containsExactly("embeddings.");
        assertThat(l.settings().lora().enabled()).isTrue();
        assertThat(l.settings().pretrainedFile()).isNull();
        assertThatThrownBy(() -> SpeakerConfig.load(conf, List.of("finetune.lora.rnak=3")))
                .hasMessageContaining("finetune.lora.rnak");
    }

    /**
     * The whole pipeline on a tiny synthetic play, with a run directory: pre-training writes its checkpoint, a
     * second run starts from it (no pre-training), LoRA writes adapters + head only, and the merged model's accuracy
     * equals the unmerged one's.
     */
    @Test
    void pipelineWritesAndReusesItsFiles(@TempDir Path dir) throws Exception {
        StringBuilder text = new StringBuilder();
        Random r = new Random(5);
        String[] names = {"ROMEO", "JULIET", "NURSE"};
        for (int i = 0; i < 90; i++) {
            int who = r.nextInt(3);
            text.append(names[who]).append(":\n");
            for (int k = 0; k < 2; k++) {
                text.append(who == 0 ? "o love " : who == 1 ? "ay me " : "marry ").append(r.nextInt(100)).append("\n");
            }
            text.append("\n");
        }
        LoraConfig lora = new LoraConfig(2, 4, List.of("attn.qkv"));
        SpeakerExperiment.Settings s = new SpeakerExperiment.Settings(1, 3, 0.2, 16, 1, 2, 16, 0.0, false, true, 20, 8,
                3e-3, 60, 16, 3e-3, List.of("embeddings."), lora, 1e-2, dir.toString(), null);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<SpeakerExperiment.Outcome> out = SpeakerExperiment.run(s, text.toString(), root, new PrintStream(log));
        String printed = log.toString();
        System.out.print(printed);
        assertThat(out).extracting(SpeakerExperiment.Outcome::name).hasSize(4);
        assertThat(out.get(1).accuracy()).as("from scratch: the marker words make this easy").isGreaterThan(0.9);
        for (String f : List.of("pretrained.safetensors", "finetuned.safetensors", "lora-adapters.safetensors",
                "lora-merged.safetensors")) {
            assertThat(dir.resolve(f)).exists();
        }
        ModelFiles.Adapters adapters = ModelFiles.loadAdapters(dir.resolve("lora-adapters.safetensors"));
        assertThat(adapters.config()).isEqualTo(lora);
        assertThat(adapters.tensors().keySet()).containsExactlyInAnyOrder("layers.0.attn.qkv.lora_a",
                "layers.0.attn.qkv.lora_b", "classifier.weight", "classifier.bias", "pooler.dense.weight",
                "pooler.dense.bias");
        Matcher m = Pattern.compile("merged into the pre-trained weights: test accuracy "
                + "([0-9.]+)% \\(unmerged ([0-9.]+)%\\)").matcher(printed);
        assertThat(m.find()).isTrue();
        assertThat(m.group(1)).isEqualTo(m.group(2));
        // a second run starts from the saved pre-trained model instead of pre-training
        SpeakerExperiment.Settings again = new SpeakerExperiment.Settings(1, 3, 0.2, 16, 1, 2, 16, 0.0, false, true, 20, 8,
                3e-3, 5, 16, 3e-3, List.of(), LoraConfig.NONE, 1e-2, null,
                dir.resolve("pretrained.safetensors").toString());
        ByteArrayOutputStream log2 = new ByteArrayOutputStream();
        SpeakerExperiment.run(again, text.toString(), root, new PrintStream(log2));
        assertThat(log2.toString()).contains("pre-trained model: ").doesNotContain("pre-training BERT");
    }
}

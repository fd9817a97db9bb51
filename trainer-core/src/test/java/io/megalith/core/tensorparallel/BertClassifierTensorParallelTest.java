package io.megalith.core.tensorparallel;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.SingleRankCommunicator;
import io.megalith.core.config.ConfigLoader;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.bert.BertConfig;
import io.megalith.core.model.bert.SentencePair;
import io.megalith.core.model.bert.SequenceClassifier;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.ParallelClassifier;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.CounterRng;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.LoopbackRanks;
import io.megalith.core.testing.Tolerances;
import io.megalith.core.train.Part;
import io.megalith.core.train.Trainer;
import io.megalith.parallel.mesh.DeviceMesh;
import io.megalith.parallel.mesh.ParallelContext;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Percentage;
import org.junit.jupiter.api.Test;

/**
 * BERT sequence classification (post-LN, padded rows, dropout 0.1; one segment or sentence pairs with token types)
 * trains the same at TP=2 and at DP=2 as on one rank, over real Netty loopback sockets: the losses of 6 AdamW steps
 * (2 micro-batches of 4 rows each) within 1e-5 relative, and the step-1 gradients of the backbone, pooler and
 * classifier head (slices gathered, replicated PARTIAL gradients summed) within the shared tolerance.
 */
class BertClassifierTensorParallelTest {
    static final int STEPS = 6;
    static final int SEQ = 12;
    static final int VOCAB = 30;
    static final int LABELS = 3;
    static final List<String> CHECKED = List.of("embeddings.word.weight", "embeddings.position.weight",
            "embeddings.ln.weight", "layers.0.attn.qkv.weight", "layers.0.attn.proj.weight", "layers.1.mlp.fc.weight",
            "layers.1.ln2.weight", "pooler.dense.weight", "classifier.weight", "classifier.bias");

    record Result(List<Double> losses, Map<String, float[]> grads) {}

    /**
     * Rows keyed by (step, global row) only; the label follows the tokens, so the task is learnable. With pairs:
     * [CLS] A [SEP] B [SEP] with token types (A and B of varying lengths, then padding), the label following B.
     */
    static Part rows(ParallelClassifier model, boolean pairs, long step, int first, int count) {
        long[] ids = new long[count * SEQ];
        long[] types = pairs ? new long[count * SEQ] : null;
        long[] labels = new long[count];
        for (int i = 0; i < count; i++) {
            long key = CounterRng.key(91, step, first + i);
            int len = SEQ - (int) CounterRng.below(key, 1000, 5); // some rows padded
            labels[i] = CounterRng.below(key, 1001, LABELS);
            ids[i * SEQ] = 1; // [CLS]
            for (int j = 1; j < len; j++) {
                ids[i * SEQ + j] = 4 + labels[i] * 8 + CounterRng.below(key, j, 8);
            }
            if (pairs) {
                long[] a = new long[SEQ];
                for (int j = 0; j < SEQ; j++) {
                    a[j] = 4 + CounterRng.below(key, 2000 + j, 24); // A says nothing of the label
                }
                long[] row = new long[SEQ]; // [PAD] = 0
                long[] seg = new long[SEQ];
                int aLen = 1 + (int) CounterRng.below(key, 1002, 3);
                SentencePair.pack(a, 0, aLen, ids, i * SEQ + 1, len - SentencePair.SPECIALS - aLen, 1, 2, row, seg);
                System.arraycopy(row, 0, ids, i * SEQ, SEQ);
                System.arraycopy(seg, 0, types, i * SEQ, SEQ);
            }
        }
        return new Part() {
            @Override
            public long scored() {
                return count;
            }

            @Override
            public long tokens() {
                return ids.length;
            }

            @Override
            public int rows() {
                return count;
            }

            @Override
            public double run(ForwardContext ctx, long stepScored, long stepRows, SegmentedPass.Hooks hooks,
                    SegmentedPass.Recompute recompute, Communicator tp) {
                float w = (float) count / stepRows;
                return SegmentedPass.run(model.segments(ids, types, labels, count, SEQ, ctx.manager(), w),
                        SequenceClassifier.inputIds(ctx.manager(), ids, count, SEQ), ctx, 1f, hooks, recompute,
                        tp);
            }
        };
    }

    /** The families' test config, with a learning rate at which 6 steps visibly learn this easy task. */
    static MegalithConfig config(int dp, int tp) {
        return ConfigLoader.fromYaml(ConfigLoader.toYaml(
                FamiliesTensorParallelEquivalenceTest.config(dp, tp)), List.of("train.lr=2.0e-2", "train.min_lr=2.0e-3",
                "train.warmup_steps=0"), "classifier tp test");
    }

    static Result train(MegalithConfig cfg, Communicator dp, Communicator tp) {
        return train(cfg, dp, tp, LoraConfig.NONE, CHECKED, false);
    }

    static Result train(MegalithConfig cfg, Communicator dp, Communicator tp, LoraConfig lora, List<String> checked) {
        return train(cfg, dp, tp, lora, checked, false);
    }

    static Result train(MegalithConfig cfg, Communicator dp, Communicator tp, LoraConfig lora, List<String> checked,
            boolean pairs) {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        BertConfig bc = new BertConfig(VOCAB, 16, 2, 2, 4, 32, 0.1, true, false, false, 0, lora);
        ParallelClassifier model = BertPlan.apply(new SequenceClassifier(bc, LABELS), Placement.tensorParallel(tp));
        try (NDManager manager = Torch.newManager();
                ParameterStore store = new ParameterStore(model.model(), manager, cfg.seed());
                Trainer trainer = FamiliesTensorParallelEquivalenceTest.trainer(cfg, store,
                        model.segments(null, null, 0, 0, null, 1f),
                        (step, first, count) -> rows(model, pairs, step, first, count), manager, dp, tp)) {
            List<Double> losses = new ArrayList<>();
            Map<String, float[]> grads = new LinkedHashMap<>();
            for (int s = 0; s < STEPS; s++) {
                losses.add(trainer.step(s).loss());
                if (s == 0) {
                    Map<String, HostTensor> full = trainer.fullGradients();
                    for (String name : checked) {
                        assertThat(full).as("gradient of %s", name).containsKey(name);
                        grads.put(name, full.get(name).toFloats());
                    }
                }
            }
            return new Result(losses, grads);
        }
    }

    static void assertSame(Result one, Result other, String layout) {
        for (int s = 0; s < STEPS; s++) {
            assertThat(other.losses().get(s)).as("%s step %d loss", layout, s + 1)
                    .isCloseTo(one.losses().get(s), Percentage.withPercentage(1e-3));
        }
        one.grads().forEach((name, want) -> Tolerances.assertCloseToLargest(want, other.grads().get(name),
                layout + " gradient of " + name));
    }

    @Test
    void classificationAtTp2AndDp2ReproducesOneRank() throws Exception {
        Result one = train(config(1, 1), new SingleRankCommunicator(),
                new SingleRankCommunicator());
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) ->
                train(config(1, 2), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : tp2) {
            assertSame(one, r, "tp=2");
        }
        List<Result> dp2 = LoopbackRanks.run(DeviceMesh.of(2, 1, 1), (ParallelContext ctx) ->
                train(config(2, 1), ctx.dataParallel(), ctx.tensorParallel()));
        for (Result r : dp2) {
            assertSame(one, r, "dp=2");
        }
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }

    /** Sentence pairs with token types (the segment table replicated, its gradient PARTIAL) at TP=2. */
    @Test
    void pairClassificationAtTp2ReproducesOneRank() throws Exception {
        List<String> checked = new ArrayList<>(CHECKED);
        checked.add("embeddings.segment.weight");
        Result one = train(config(1, 1), new SingleRankCommunicator(), new SingleRankCommunicator(), LoraConfig.NONE,
                checked, true);
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) ->
                train(config(1, 2), ctx.dataParallel(), ctx.tensorParallel(), LoraConfig.NONE, checked, true));
        for (Result r : tp2) {
            assertSame(one, r, "pairs tp=2");
        }
        float[] seg = one.grads().get("embeddings.segment.weight");
        assertThat(Arrays.copyOfRange(seg, 32, 64)).as("type 1 trains").isNotEqualTo(new float[32]);
        assertThat(one.losses().get(STEPS - 1)).as("it trains").isLessThan(one.losses().get(0));
    }

    /** With LoRA adapters on the attention and feed-forward (sharded as their layers at TP=2). */
    @Test
    void classificationWithLoraAtTp2ReproducesOneRank() throws Exception {
        LoraConfig lora = new LoraConfig(2, 4, List.of("attn.qkv", "attn.proj", "mlp.fc", "mlp.proj"));
        List<String> checked = new ArrayList<>(CHECKED);
        checked.addAll(List.of("layers.0.attn.qkv.lora_a", "layers.0.attn.qkv.lora_b", "layers.1.mlp.proj.lora_a",
                "layers.1.mlp.proj.lora_b"));
        Result one = train(config(1, 1), new SingleRankCommunicator(), new SingleRankCommunicator(), lora, checked);
        List<Result> tp2 = LoopbackRanks.run(DeviceMesh.of(1, 2, 1), (ParallelContext ctx) ->
                train(config(1, 2), ctx.dataParallel(), ctx.tensorParallel(), lora, checked));
        for (Result r : tp2) {
            assertSame(one, r, "lora tp=2");
        }
    }
}

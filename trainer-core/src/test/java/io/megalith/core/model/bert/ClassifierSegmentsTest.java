package io.megalith.core.model.bert;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.lora.LoraConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.BertPlan;
import io.megalith.core.parallelize.ParallelClassifier;
import io.megalith.core.parallelize.Placement;
import io.megalith.core.segment.Segment;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * At one rank, {@code ParallelClassifier.segments} through {@link SegmentedPass} is the whole-graph {@code loss}:
 * the same loss and the same gradient of every parameter (dropout on, padded rows, pre- and post-LN, every
 * recompute policy, one segment or sentence pairs with token types); the chain lists every parameter, and the
 * pre-training heads get no gradient.
 */
class ClassifierSegmentsTest {
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

    record Run(float loss, Map<String, float[]> grads) {}

    static Run run(ParameterStore store, Function<ForwardContext, Float> pass) {
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = root.newSubManager()) {
            float loss = pass.apply(new ForwardContext(true, 42, 3, m));
            Map<String, float[]> g = new LinkedHashMap<>();
            for (Parameter p : store.parameters()) {
                PtNDArray grad = store.gradient(p);
                g.put(p.name(), grad == null ? null : grad.toFloatArray());
            }
            store.zeroGradients();
            return new Run(loss, g);
        }
    }

    @ParameterizedTest
    @CsvSource({"false,false", "true,false", "false,true", "true,true"})
    void segmentsAreTheWholeGraphLoss(boolean preLn, boolean pairs) {
        BertConfig cfg = new BertConfig(24, 12, 2, 2, 4, 16, 0.1, true, preLn, false, 0, LoraConfig.NONE);
        SequenceClassifier model = new SequenceClassifier(cfg, 3);
        ParallelClassifier parallel = BertPlan.apply(model, Placement.SINGLE);
        int b = 4;
        int t = 10;
        Random r = new Random(5);
        long[] ids = new long[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i % t == 0 ? 1 : 4 + r.nextInt(20);
        }
        for (int j = 6; j < t; j++) {
            ids[t + j] = 0; // row 1 padded
        }
        long[] labels = {0, 2, 1, 2};
        // sentence pairs: [CLS] A [SEP] B [SEP] as ClassificationData lays them out, padding type 0
        long[] types = pairs ? new long[b * t] : null;
        if (pairs) {
            for (int i = 0; i < b; i++) {
                int end = i == 1 ? 6 : t;
                long[] src = Arrays.copyOfRange(ids, i * t, i * t + t);
                long[] row = src.clone(); // row 1 keeps its padding after the pair
                long[] seg = new long[t];
                int a = 1 + i % 2;
                SentencePair.pack(src, 1, a, src, 3, end - SentencePair.SPECIALS - a, 1, 2, row, seg);
                System.arraycopy(row, 0, ids, i * t, t);
                System.arraycopy(seg, 0, types, i * t, t);
            }
        }
        try (ParameterStore store = new ParameterStore(model, root, 7)) {
            Run whole = run(store, ctx -> {
                JniUtils.setGradMode(true);
                PtNDArray loss = model.loss(ids, types, labels, b, t, ctx);
                JniUtils.setGradMode(false);
                JniUtils.backward(loss, Ops.scalar(loss.getManager(), 1f), false, false);
                return loss.getFloat();
            });
            assertThat(whole.grads().get("classifier.weight")).isNotNull();
            assertThat(whole.grads().get("layers.0.attn.qkv.weight")).as("the encoder learns").isNotNull();
            assertThat(whole.grads().get("mlm.dense.weight")).as("pre-training heads are unused").isNull();
            for (SegmentedPass.Recompute rc : SegmentedPass.Recompute.values()) {
                Run seg = run(store, ctx -> (float) SegmentedPass.run(
                        parallel.segments(ids, types, labels, b, t, ctx.manager(), 1f),
                        SequenceClassifier.inputIds(ctx.manager(), ids, b, t), ctx, 1f, SegmentedPass.NO_HOOKS, rc, null));
                assertThat(seg.loss()).as("%s loss", rc).isEqualTo(whole.loss());
                whole.grads().forEach((name, want) -> {
                    float[] got = seg.grads().get(name);
                    if (want == null) {
                        assertThat(got == null || allZero(got)).as("%s: no gradient of %s", rc, name).isTrue();
                        return;
                    }
                    float scale = 1e-12f;
                    for (float v : want) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    for (int i = 0; i < want.length; i++) {
                        assertThat(Math.abs(got[i] - want[i])).as("%s d %s[%d]", rc, name, i)
                                .isLessThanOrEqualTo(1e-6f * scale);
                    }
                });
            }
            // a weight scales the loss (a part's share of the step's sequences)
            Run half = run(store, ctx -> (float) SegmentedPass.run(
                    parallel.segments(ids, types, labels, b, t, ctx.manager(), 0.5f),
                    SequenceClassifier.inputIds(ctx.manager(), ids, b, t), ctx, 1f, SegmentedPass.NO_HOOKS,
                    SegmentedPass.Recompute.NONE, null));
            assertThat(half.loss()).isCloseTo(whole.loss() / 2, Offset.offset(1e-6f));
            if (pairs) {
                float[] seg = whole.grads().get("embeddings.segment.weight");
                assertThat(Arrays.copyOfRange(seg, 16, 32)).as("type 1 is read").isNotEqualTo(new float[16]);
                Run oneType = run(store, ctx -> model.loss(ids, null, labels, b, t, ctx).getFloat());
                assertThat(oneType.loss()).as("token types change the loss").isNotEqualTo(whole.loss());
            }
        }
        Set<Parameter> planned = new HashSet<>();
        for (Segment s : parallel.segments(null, null, 0, 0, null, 1f)) {
            planned.addAll(s.parameters());
        }
        assertThat(planned).containsExactlyInAnyOrderElementsOf(model.parameters());
    }

    static boolean allZero(float[] v) {
        for (float x : v) {
            if (x != 0) {
                return false;
            }
        }
        return true;
    }
}

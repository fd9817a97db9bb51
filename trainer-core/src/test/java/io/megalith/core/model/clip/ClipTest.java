package io.megalith.core.model.clip;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.model.vit.VitConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.parallelize.ClipPlan;
import io.megalith.core.parallelize.ParallelClip;
import io.megalith.core.segment.SegmentedPass;
import io.megalith.core.tensor.Ops;
import io.megalith.core.tensor.Torch;
import io.megalith.core.testing.SyntheticCaptions;
import io.megalith.core.testing.Tolerances;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.assertj.core.data.Offset;
import org.junit.jupiter.api.Test;

/**
 * The one-rank CLIP: the loss at init is about log(B) (random embeddings: every pair as likely), the logit scale
 * starts at 1/0.07 and is clamped at 100, the causal and bidirectional text towers pool as they say (padding never
 * changes a caption's embedding), and the segment chains compute exactly the model's loss and gradients.
 */
class ClipTest {
    @Test
    void lossAtInitIsNearLogBatchAndScaleIsClamped() {
        Torch.load(1);
        Torch.enterThread();
        ClipConfig cfg = ClipShapes.small(VitConfig.Pool.CLS, TextEncoderConfig.Mask.CAUSAL, 0);
        Clip clip = new Clip(cfg);
        SyntheticCaptions data = new SyntheticCaptions(8, 0, 5);
        CaptionBatch b = data.train(0, 0, 8);
        long[] ids = ClipShapes.tokens().encode(b.captions());
        try (NDManager m = Torch.newManager(); ParameterStore store = new ParameterStore(clip.parameters(), m, 1);
                NDScope scope = new NDScope()) {
            ForwardContext ctx = ForwardContext.inference(m);
            float loss = clip.loss(Clip.pixels(m, b.images().pixels(), 8, cfg), ids, ctx).getFloat();
            assertThat((double) loss).isCloseTo(Math.log(8), Offset.offset(1.0));
            assertThat((double) clip.scale().getFloat()).isCloseTo(1 / 0.07, Offset.offset(1e-3));
            PtNDArray emb = clip.encodeTexts(ids, 8, ctx);
            float[] e = emb.toFloatArray();
            double norm = 0;
            for (int j = 0; j < 16; j++) {
                norm += e[j] * e[j];
            }
            assertThat(norm).isCloseTo(1.0, Offset.offset(1e-5));
            Ops.addInPlace(clip.logitScale().value(), Ops.scalar(m, (float) (10 - Math.log(1 / 0.07))));
            assertThat((double) clip.scale().getFloat()).isCloseTo(100, Offset.offset(1e-3));
        }
    }

    @Test
    void paddingNeverChangesACaptionsEmbedding() {
        Torch.load(1);
        Torch.enterThread();
        for (TextEncoderConfig.Mask mask : TextEncoderConfig.Mask.values()) {
            ClipConfig cfg = ClipShapes.small(VitConfig.Pool.MEAN, mask, 0);
            Clip clip = new Clip(cfg);
            List<String> captions = List.of("a photo of a bar", "a stripe to the left of a square");
            try (NDManager m = Torch.newManager(); ParameterStore store = new ParameterStore(clip.parameters(), m, 1);
                    NDScope scope = new NDScope()) {
                ForwardContext ctx = ForwardContext.inference(m);
                float[] longer = clip.encodeTexts(new CaptionTokens(ClipShapes.tokens().tokenizer(), 36)
                        .encode(captions), 2, ctx).toFloatArray();
                float[] shorter = clip.encodeTexts(new CaptionTokens(ClipShapes.tokens().tokenizer(), 33)
                        .encode(captions), 2, ctx).toFloatArray();
                Tolerances.assertCloseToLargest(longer, shorter, mask + " padded embeddings");
            }
        }
    }

    @Test
    void segmentChainsComputeTheModelsLossAndGradients() {
        Torch.load(1);
        Torch.enterThread();
        JniUtils.setNumThreads(1);
        ClipConfig cfg = ClipShapes.small(VitConfig.Pool.CLS, TextEncoderConfig.Mask.CAUSAL, 0.1);
        SyntheticCaptions data = new SyntheticCaptions(8, 0, 5);
        CaptionBatch b = data.train(3, 0, 6);
        long[] ids = ClipShapes.tokens().encode(b.captions());
        Map<String, float[]> direct = new LinkedHashMap<>();
        Map<String, float[]> chained = new LinkedHashMap<>();
        float[] losses = new float[2];
        for (int way = 0; way < 2; way++) {
            Clip clip = new Clip(cfg);
            ParallelClip parallel = ClipPlan.single(clip);
            try (NDManager m = Torch.newManager(); ParameterStore store = new ParameterStore(clip.parameters(), m, 1);
                    NDScope scope = new NDScope()) {
                ForwardContext ctx = new ForwardContext(true, 42, 0, m);
                if (way == 0) {
                    JniUtils.setGradMode(true);
                    PtNDArray loss = clip.loss(Clip.pixels(m, b.images().pixels(), 6, cfg), ids, ctx);
                    JniUtils.setGradMode(false);
                    JniUtils.backward(loss, Ops.scalar(m, 1f), false, false);
                    losses[0] = loss.getFloat();
                } else {
                    ParallelClip.Chains c = parallel.segments(b.images().pixels(), ids, 6, m, 1f);
                    losses[1] = SegmentedPass.runTwoChains(c.image(), c.pixels(), c.text(), c.ids(), ctx, 1f,
                            SegmentedPass.NO_HOOKS, SegmentedPass.Recompute.NONE, null);
                }
                for (Parameter p : clip.parameters()) {
                    PtNDArray g = JniUtils.getGradient(p.value());
                    (way == 0 ? direct : chained).put(p.name(), g.toFloatArray());
                }
            }
        }
        assertThat(losses[1]).isCloseTo(losses[0], Offset.offset(1e-5f));
        assertThat(direct.keySet()).contains("visual.patch_embed.weight", "text.token_embed.weight", "logit_scale",
                "visual_proj.weight", "text_proj.weight", "text.layers.1.mlp.fc.weight");
        direct.forEach((name, want) -> Tolerances.assertCloseToLargest(want, chained.get(name), "gradient of " + name));
    }
}

package io.megalith.core.family.dit;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.data.captions.CaptionBatch;
import io.megalith.core.data.captions.CaptionData;
import io.megalith.core.data.images.ImageData;
import io.megalith.core.diffusion.DiffusionConfig;
import io.megalith.core.diffusion.Noising;
import io.megalith.core.model.dit.Dit;
import io.megalith.core.model.dit.DitBatch;
import io.megalith.core.model.dit.DitConfig;
import io.megalith.core.model.dit.DitText;
import io.megalith.core.model.dit.TextToImage;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.ParameterStore;
import io.megalith.core.tensor.HostTensor;
import io.megalith.core.tensor.Ops;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The held-out diffusion loss of a one-rank DiT: mean squared error of its prediction over the first {@code images}
 * held-out images, each noised at a timestep and with noise keyed by its index (never by the step), labels kept: the
 * same draws at every evaluation, so the curve compares checkpoints. A text-to-image DiT's: on held-out compositions
 * (pairs of classes never together in training) with their captions, none dropped.
 */
public record DitEvaluation(double loss, long images) {
    /** The Noising step key of held-out draws (training steps are >= 0). */
    static final long HELD_OUT = -1;

    /** The metrics.jsonl fields: val_loss, eval_images. */
    public Map<String, Object> record() {
        Map<String, Object> r = new LinkedHashMap<>();
        r.put("val_loss", loss);
        r.put("eval_images", images);
        return r;
    }

    /** Evaluates a one-rank copy of {@code full} in chunks of {@code chunk} images (no gradients). */
    public static DitEvaluation of(DitConfig cfg, DiffusionConfig diffusion, long seed, ImageData data, long images,
            int chunk, Map<String, HostTensor> full, NDManager manager) {
        Noising noising = new Noising(conditional(diffusion), seed, cfg.nullClass());
        Dit one = new Dit(cfg);
        double sum = 0;
        boolean grad = JniUtils.isGradMode();
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            JniUtils.setGradMode(false);
            for (long from = 0; from < images; from += chunk) {
                DitBatch b = noising.rows(data.heldOut(from, (int) Math.min(chunk, images - from)), HELD_OUT, from);
                try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                    ForwardContext ctx = ForwardContext.inference(m);
                    sum += b.rows() * (double) one.loss(Ops.floats(m, b.noised(), b.rows(), cfg.channels(),
                            cfg.height(), cfg.width()), b.t(), b.labels(), Ops.floats(m, b.target(), b.rows(),
                            cfg.channels(), cfg.height(), cfg.width()), ctx).getFloat();
                }
            }
        } finally {
            JniUtils.setGradMode(grad);
        }
        return new DitEvaluation(images == 0 ? Double.NaN : sum / images, images);
    }

    /** The same diffusion with no label or caption dropped: the conditional loss. */
    private static DiffusionConfig conditional(DiffusionConfig d) {
        return new DiffusionConfig(d.timesteps(), d.schedule(), d.prediction(), 0.0, d.samplingSteps(), d.eta(),
                d.guidanceScale(), d.clipDenoised(), d.emaDecay());
    }

    /**
     * The held-out loss of a one-rank text-to-image copy of {@code full} over the first {@code canvases} held-out
     * compositions of {@code data}, their captions encoded by {@code tokens}.
     */
    public static DitEvaluation ofCaptions(DitConfig cfg, TextEncoderConfig text, DiffusionConfig diffusion, long seed,
            CaptionData data, CaptionTokens tokens, long canvases, int chunk, Map<String, HostTensor> full,
            NDManager manager) {
        Noising noising = new Noising(conditional(diffusion), seed, cfg.nullClass());
        TextToImage one = new TextToImage(cfg, text);
        double sum = 0;
        boolean grad = JniUtils.isGradMode();
        try (ParameterStore store = new ParameterStore(one, manager, 0)) {
            store.load(full);
            JniUtils.setGradMode(false);
            for (long from = 0; from < canvases; from += chunk) {
                CaptionBatch held = data.heldOut(from, (int) Math.min(chunk, canvases - from));
                int rows = held.rows();
                DitBatch b = noising.rows(held.images(), HELD_OUT, from);
                long[] ids = tokens.encode(held.captions());
                DitText captions = TextToImage.captions(ids, rows, tokens.padId(), new boolean[rows]);
                try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
                    ForwardContext ctx = ForwardContext.inference(m);
                    PtNDArray states = one.encoder().forward(ids, rows, ctx).states();
                    PtNDArray prediction = one.dit().forward(Ops.floats(m, b.noised(), rows, cfg.channels(),
                            cfg.height(), cfg.width()), b.t(), states, captions, ctx);
                    sum += rows * (double) Dit.mse(prediction, Ops.floats(m, b.target(), rows, cfg.channels(),
                            cfg.height(), cfg.width())).getFloat();
                }
            }
        } finally {
            JniUtils.setGradMode(grad);
        }
        return new DitEvaluation(canvases == 0 ? Double.NaN : sum / canvases, canvases);
    }

    /** Parameters of a DiT of shape {@code cfg}. */
    public static long parameterCount(DitConfig cfg) {
        return new Dit(cfg).parameters().stream().mapToLong(p -> p.numel()).sum();
    }
}

package io.megalith.core.model.dit;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.core.config.MegalithConfig;
import io.megalith.core.model.clip.CaptionTokens;
import io.megalith.core.model.transformer.TextEncoder;
import io.megalith.core.model.transformer.TextEncoderConfig;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Module;
import java.util.Locale;

/**
 * A text-to-image model trained as one: a text-conditioned {@link Dit} and the {@link TextEncoder} whose token states
 * its cross-attentions read. Names: the DiT's own (unprefixed, as a class DiT's) and {@code text_encoder.*}. One-rank
 * code: the plans split both from outside ({@code parallelize.DitPlan}, {@code parallelize.TextEncoderPlan}).
 */
public final class TextToImage extends Module {
    public static final String ENCODER = "text_encoder";
    private final Dit dit;
    private final TextEncoder encoder;

    public TextToImage(DitConfig dit, TextEncoderConfig text) {
        super("");
        if (dit.textEmbd() != text.nEmbd()) {
            throw new IllegalArgumentException("the DiT reads text states of width " + dit.textEmbd()
                    + ", the text encoder makes " + text.nEmbd());
        }
        this.dit = child(new Dit(dit));
        this.encoder = child(new TextEncoder(ENCODER, text));
    }

    /**
     * The DiT's shape on canvases [channels, height, width]: no classes, reading text states of n_embd, and with
     * model.pooled_text the caption pooled into c as the text encoder's mask summarises it (causal: its last token).
     */
    public static DitConfig ditConfig(MegalithConfig.Model m, int channels, int height, int width) {
        DitConfig.TextPool pool = !m.pooledText() ? DitConfig.TextPool.NONE
                : m.textMask().equals("causal") ? DitConfig.TextPool.LAST : DitConfig.TextPool.MEAN;
        return new DitConfig(channels, height, width, m.patchSize(), m.nLayer(), m.nHead(), m.nEmbd(), 0, 256,
                m.nEmbd(), pool);
    }

    /** The text encoder: model.text_layers (0: n_layer) of the DiT's width and heads over model.text_len tokens. */
    public static TextEncoderConfig encoderConfig(MegalithConfig.Model m, CaptionTokens tokens) {
        return new TextEncoderConfig(tokens.vocabSize(), tokens.padId(), m.textLen(), m.textEncoderLayers(), m.nHead(),
                m.nEmbd(), m.dropout(), true, TextEncoderConfig.Mask.valueOf(m.textMask().toUpperCase(Locale.ROOT)));
    }

    public Dit dit() {
        return dit;
    }

    public TextEncoder encoder() {
        return encoder;
    }

    /**
     * Which keys of captions' ids [rows * textLen] the DiT reads (the non-pad tokens; a row of only padding reads its
     * first), none dropped.
     */
    public static DitText captions(long[] ids, int rows, int padId, boolean[] dropped) {
        int t = ids.length / rows;
        boolean[] mask = new boolean[ids.length];
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < t; k++) {
                mask[r * t + k] = ids[r * t + k] != padId;
            }
            mask[r * t] = true;
        }
        return new DitText(mask, dropped, rows, t);
    }

    /** The token states [rows, textLen, width] of captions' ids, row-major (no gradients; one rank). */
    public float[] states(long[] ids, int rows, NDManager manager) {
        boolean grad = JniUtils.isGradMode();
        JniUtils.setGradMode(false);
        try (NDScope scope = new NDScope(); NDManager m = manager.newSubManager()) {
            return encoder.forward(ids, rows, ForwardContext.inference(m)).states().toFloatArray();
        } finally {
            JniUtils.setGradMode(grad);
        }
    }
}

package io.megalith.core.model.dit;

import io.megalith.core.lora.LoraConfig;
import io.megalith.core.model.transformer.LayerSpec;

/**
 * The shape of a DiT: images [channels, height, width] cut into {@code patch} x {@code patch} patches (tokens),
 * {@code nLayer} blocks of width {@code nEmbd} with {@code nHead} heads, {@code classes} labels (the class table has
 * one more row, the null class {@code classes}, for classifier-free guidance) and a sinusoidal timestep embedding of
 * {@code frequencies} components (256 in the paper) over {@code timesteps} diffusion steps.
 *
 * <p>{@code textEmbd} > 0 makes a text-conditioned DiT (PixArt-alpha's layout, {@link DitText}): its blocks
 * cross-attend to a caption's token states of that width, it has no class table ({@code classes} must be 0).
 * {@code textPool} other than NONE adds the caption, pooled, to the conditioning c as well ({@link TextPool}).
 */
public record DitConfig(int channels, int height, int width, int patch, int nLayer, int nHead, int nEmbd, int classes,
        int frequencies, int textEmbd, TextPool textPool) {
    /**
     * How a text-conditioned DiT's c reads the caption besides the cross-attention: not at all (PixArt-alpha's
     * adaLN-single), or its memory pooled, at the last token (a causal text encoder's summary, as CLIP pools it) or
     * the mean over its tokens (a bidirectional one), through text_pool into c (Imagen's pooled embedding; SDXL's).
     * Through c the caption steers every block's adaLN modulation, as a class label does.
     */
    public enum TextPool { NONE, LAST, MEAN }

    public DitConfig {
        if (textPool != TextPool.NONE && textEmbd <= 0) {
            throw new IllegalArgumentException("text pooling " + textPool + " needs a text-conditioned DiT");
        }
        if (textEmbd < 0 || (textEmbd > 0 && classes != 0)) {
            throw new IllegalArgumentException("a text-conditioned DiT (text_embd " + textEmbd + ") has no classes, "
                    + "got " + classes);
        }
        if (height % patch != 0 || width % patch != 0) {
            throw new IllegalArgumentException("image " + height + "x" + width + " not divisible by patch " + patch);
        }
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by n_head " + nHead);
        }
        if (nEmbd % 4 != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " not divisible by 4 (2-D sin-cos positions)");
        }
        if (frequencies % 2 != 0) {
            throw new IllegalArgumentException("timestep frequencies must be even, got " + frequencies);
        }
    }

    /** A DiT whose c reads no pooled caption (cross-attention only where text-conditioned). */
    public DitConfig(int channels, int height, int width, int patch, int nLayer, int nHead, int nEmbd, int classes,
            int frequencies, int textEmbd) {
        this(channels, height, width, patch, nLayer, nHead, nEmbd, classes, frequencies, textEmbd, TextPool.NONE);
    }

    /** A class-conditioned DiT. */
    public DitConfig(int channels, int height, int width, int patch, int nLayer, int nHead, int nEmbd, int classes,
            int frequencies) {
        this(channels, height, width, patch, nLayer, nHead, nEmbd, classes, frequencies, 0);
    }

    /** The paper's 256 timestep frequencies. */
    public DitConfig(int channels, int height, int width, int patch, int nLayer, int nHead, int nEmbd, int classes) {
        this(channels, height, width, patch, nLayer, nHead, nEmbd, classes, 256);
    }

    /** Whether the DiT reads text states through cross-attention (else class labels). */
    public boolean textConditioned() {
        return textEmbd > 0;
    }

    /** Patches per image: the sequence length. */
    public int tokens() {
        return (height / patch) * (width / patch);
    }

    /** Values of one patch: C p p. */
    public int patchValues() {
        return channels * patch * patch;
    }

    /** The null class: the label of an unconditional row. */
    public int nullClass() {
        return classes;
    }

    /** Pre-LN-shaped layers without dropout or LoRA; residual projections scaled by the depth as in GPT-2. */
    public LayerSpec layerSpec() {
        return new LayerSpec(nEmbd, nHead, 0.0, true, true, nLayer, LoraConfig.NONE);
    }

    /**
     * As a record prints itself; {@code textEmbd} and {@code textPool} only when set, so the shapes of DiTs made
     * before them (checked on resume) stay.
     */
    @Override
    public String toString() {
        return "DitConfig[channels=" + channels + ", height=" + height + ", width=" + width + ", patch=" + patch
                + ", nLayer=" + nLayer + ", nHead=" + nHead + ", nEmbd=" + nEmbd + ", classes=" + classes
                + ", frequencies=" + frequencies + (textEmbd > 0 ? ", textEmbd=" + textEmbd : "") + (textPool != TextPool.NONE ? ", textPool=" + textPool : "")
                + "]";
    }
}

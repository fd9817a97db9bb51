package io.megalith.core.model.transformer;

import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.LayerNorm;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * A text transformer giving token states and a pooled vector (CLIP's text tower; what a text-conditioned model reads):
 * <pre>
 *   x       token_embed(ids) + pos_embed[:T]     ids [B, T], right-padded with pad_id; dropout
 *   x       layers.i(x, mask)                    pre-LN layers; mask causal, or bidirectional over non-pad tokens
 *   states  ln_f(x)                              [B, T, C]
 *   pooled  causal: the last non-pad token's state; bidirectional: the mean over non-pad tokens   [B, C]
 * </pre>
 * Names (under {@code prefix}): {@code token_embed, pos_embed, layers.i.{ln1,attn.qkv,attn.proj,ln2,mlp.fc,mlp.proj},
 * ln_f}. One-rank code: tensor parallelism comes from outside (a plan, as the other families').
 */
public final class TextEncoder extends Module {
    private final TextEncoderConfig cfg;
    private final Embedding tokenEmbed;
    private final Embedding posEmbed;
    private final List<TransformerLayer> layers = new ArrayList<>();
    private final LayerNorm lnF;

    public TextEncoder(String prefix, TextEncoderConfig cfg) {
        super(prefix);
        this.cfg = cfg;
        this.tokenEmbed = child(new Embedding(childName("token_embed"), cfg.vocabSize(), cfg.nEmbd(), 0.02));
        this.posEmbed = child(new Embedding(childName("pos_embed"), cfg.textLen(), cfg.nEmbd(), 0.01));
        for (int i = 0; i < cfg.nLayer(); i++) {
            layers.add(child(new TransformerLayer(childName("layers." + i), cfg.layerSpec(), i, false)));
        }
        this.lnF = child(new LayerNorm(childName("ln_f"), cfg.nEmbd(), cfg.bias()));
    }

    public TextEncoderConfig config() {
        return cfg;
    }

    /** Token plus position embeddings [B, T, C] of ids [B, T], with dropout. */
    public PtNDArray embed(PtNDArray ids, ForwardContext ctx) {
        long t = ids.getShape().get(1);
        PtNDArray pos = Ops.slice(posEmbed.weight().value(), 0, 0, t);
        return ctx.dropout(Ops.add(tokenEmbed.forward(ids), pos), cfg.dropout(), childName("drop"));
    }

    /**
     * The attention bias of ids [B*T]: causal [T, T] (right padding is never attended to by a real token), or the
     * padding bias [B, 1, 1, T] (null without padding).
     */
    public PtNDArray attentionBias(NDManager m, long[] ids, int b) {
        int t = ids.length / b;
        if (cfg.mask() == TextEncoderConfig.Mask.CAUSAL) {
            return t == 1 ? null : AttentionMask.causal(m, t);
        }
        return AttentionMask.hasPadding(ids, cfg.padId()) ? AttentionMask.padding(m, ids, b, t, cfg.padId()) : null;
    }

    /**
     * The pooling weights [B, 1, T] of ids [B*T]: one on the last non-pad token (causal), or 1/n on each of the n
     * non-pad tokens (bidirectional); a row of only padding pools its first token.
     */
    public PtNDArray poolWeights(NDManager m, long[] ids, int b) {
        int t = ids.length / b;
        float[] w = new float[ids.length];
        for (int i = 0; i < b; i++) {
            int n = 0;
            while (n < t && ids[i * t + n] != cfg.padId()) {
                n++;
            }
            n = Math.max(n, 1);
            if (cfg.mask() == TextEncoderConfig.Mask.CAUSAL) {
                w[i * t + n - 1] = 1f;
            } else {
                for (int j = 0; j < n; j++) {
                    w[i * t + j] = 1f / n;
                }
            }
        }
        return Ops.floats(m, w, b, 1, t);
    }

    /** ln_f of the layers' output [B, T, C]: the token states. */
    public PtNDArray states(PtNDArray x) {
        return lnF.forward(x);
    }

    /** The pooled vectors [B, C] of token states [B, T, C] under {@code weights} [B, 1, T] ({@link #poolWeights}). */
    public static PtNDArray pool(PtNDArray states, PtNDArray weights) {
        long b = states.getShape().get(0);
        return Ops.reshape(Ops.matmul(weights, states), b, states.getShape().get(2));
    }

    /** Token states [B, T, C] of ids [B*T] (text_len or fewer per row) and their pooled vectors [B, C]. */
    public record Output(PtNDArray states, PtNDArray pooled) {}

    /** The whole encoder on ids [B*T]. */
    public Output forward(long[] ids, int b, ForwardContext ctx) {
        NDManager m = ctx.manager();
        int t = ids.length / b;
        if (t > cfg.textLen()) {
            throw new IllegalArgumentException("text of " + t + " tokens exceeds model.text_len " + cfg.textLen());
        }
        PtNDArray bias = attentionBias(m, ids, b);
        PtNDArray x = embed(Ops.longs(m, ids, b, t), ctx);
        for (TransformerLayer layer : layers) {
            x = layer.forward(x, bias, null, null, ctx, null, null);
        }
        PtNDArray states = states(x);
        return new Output(states, pool(states, poolWeights(m, ids, b)));
    }

    public List<TransformerLayer> layers() {
        return layers;
    }

    public LayerNorm lnF() {
        return lnF;
    }

    /** The parameters of {@link #embed}. */
    public List<Parameter> embeddingParameters() {
        return List.of(tokenEmbed.weight(), posEmbed.weight());
    }
}

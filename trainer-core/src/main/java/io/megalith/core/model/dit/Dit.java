package io.megalith.core.model.dit;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Init;
import io.megalith.core.nn.Linear;
import io.megalith.core.nn.Module;
import io.megalith.core.nn.Parameter;
import io.megalith.core.tensor.Ops;
import java.util.ArrayList;
import java.util.List;

/**
 * A diffusion transformer, DiT (Peebles and Xie, 2023), predicting the noise of a noised image x_t [B, C, H, W]
 * given the timestep t and the class y:
 * <pre>
 *   h = patch(patchify(x_t)) + pos                  tokens [B, T, D], pos the fixed 2-D sin-cos table
 *   c = time(sinusoid(t)) + label(y)                conditioning [B, D]; label has a null class for guidance
 *   h = block_i(h, c)                               adaLN-Zero blocks ({@link DitBlock})
 *   out = unpatchify(linear(norm(h) (1 + scale) + shift))   (shift, scale) = final.modulation(silu(c))
 * </pre>
 * {@code final.modulation} and {@code final.linear} start at zero, as every block's modulation: a fresh DiT
 * outputs exactly 0. Names: {@code patch}, {@code time.fc1}, {@code time.fc2}, {@code label},
 * {@code blocks.i.{attn,mlp,modulation}}, {@code final.modulation}, {@code final.linear}.
 *
 * <p>A text-conditioned DiT ({@link DitConfig#textEmbd} > 0, PixArt-alpha's layout) has no class table: c is the
 * timestep embedding alone by default (PixArt's adaLN-single: the caption is read token by token through
 * cross-attention, where word order survives; see the text pool below for the other choice), and its blocks
 * cross-attend to the caption memory
 * <pre>
 *   s = states, each dropped row's replaced by null_text (one key; {@link DitText})    [B, Tk, text_embd]
 *   memory = text_proj.fc2(gelu(text_proj.fc1(s)))                                      [B, Tk, D]
 * </pre>
 * (PixArt's caption projection: text_embd may differ from D). Names: {@code null_text} [1, text_embd],
 * {@code text_proj.{fc1,fc2}}, {@code blocks.i.{ln_cross,cross.q,cross.kv,cross.proj}}. With a text pool
 * ({@link DitConfig.TextPool}, Imagen's choice), c reads the caption too:
 * <pre>
 *   c = time(sinusoid(t)) + text_pool(pool(memory))   pool: the last read key, or the mean over them
 * </pre>
 * (a dropped row pools its null text), so the caption modulates every block as a class label does; under a causal
 * text encoder the last token has read the whole caption, word order included.
 *
 * <p>One-rank code: tensor parallelism is applied from outside ({@code parallelize.DitPlan}), whose
 * {@code ParallelDit} runs the blocks as segments.
 */
public final class Dit extends Module {
    private final DitConfig cfg;
    private final Linear patch;
    private final Linear timeFc1;
    private final Linear timeFc2;
    private final Embedding label; // null in a text-conditioned DiT
    private final Parameter nullText; // null in a class-conditioned DiT
    private final Linear textFc1;
    private final Linear textFc2;
    private final Linear textPool; // null unless c reads the pooled caption
    private final List<DitBlock> blocks = new ArrayList<>();
    private final ZeroLinear finalModulation;
    private final ZeroLinear finalLinear;
    private final ShiftScale finalNorm;
    private PtNDArray pos;

    public Dit(DitConfig cfg) {
        super("");
        this.cfg = cfg;
        int d = cfg.nEmbd();
        this.patch = child(new Linear("patch", cfg.patchValues(), d, true, 0.02)); // a stride-p conv over patches
        this.timeFc1 = child(new Linear("time.fc1", cfg.frequencies(), d, true, 0.02));
        this.timeFc2 = child(new Linear("time.fc2", d, d, true, 0.02));
        boolean text = cfg.textConditioned();
        this.label = text ? null : child(new Embedding("label", cfg.classes() + 1, d, 0.02)); // + the null class
        int te = cfg.textEmbd();
        // PixArt's null caption: randn / sqrt(text_embd); its caption MLP: normal(0.02)
        this.nullText = text ? parameter("null_text", new long[] {1, te}, Init.normal(1 / Math.sqrt(te)), false) : null;
        this.textFc1 = text ? child(new Linear("text_proj.fc1", te, d, true, 0.02)) : null;
        this.textFc2 = text ? child(new Linear("text_proj.fc2", d, d, true, 0.02)) : null;
        boolean pooled = cfg.textPool() != DitConfig.TextPool.NONE;
        this.textPool = pooled ? child(new Linear("text_pool", d, d, true, 0.02)) : null; // as the class table's init
        for (int i = 0; i < cfg.nLayer(); i++) {
            blocks.add(child(new DitBlock("blocks." + i, cfg.layerSpec(), text)));
        }
        this.finalModulation = child(new ZeroLinear("final.modulation", d, 2L * d)); // adaLN-Zero
        this.finalLinear = child(new ZeroLinear("final.linear", d, cfg.patchValues()));
        this.finalNorm = new ShiftScale(finalModulation.weight(), d);
    }

    public DitConfig config() {
        return cfg;
    }

    /** The predicted noise [B, C, H, W] of x_t [B, C, H, W] at timesteps t [B] for labels [B]. */
    public PtNDArray forward(PtNDArray x, long[] t, long[] labels, ForwardContext ctx) {
        requireWhole();
        requireText(false);
        PtNDArray h = embed(x);
        PtNDArray c = condition(t, labels, ctx.manager());
        for (DitBlock block : blocks) {
            h = block.forward(h, c, ctx);
        }
        return output(h, c);
    }

    /**
     * A text-conditioned DiT's predicted noise [B, C, H, W] of x_t at timesteps t, for the captions' token states
     * [B, Tk, text_embd] with their mask and drops {@code text}.
     */
    public PtNDArray forward(PtNDArray x, long[] t, PtNDArray states, DitText text, ForwardContext ctx) {
        requireWhole();
        requireText(true);
        NDManager m = ctx.manager();
        PtNDArray h = embed(x);
        PtNDArray memory = text(states, text, m);
        PtNDArray c = textCondition(t, memory, text, m);
        PtNDArray bias = textBias(text, m);
        for (DitBlock block : blocks) {
            h = block.forward(h, c, memory, bias, ctx);
        }
        return output(h, c);
    }

    /**
     * The caption memory [B, Tk, D] the cross-attentions read: text_proj of the states with every dropped row's
     * replaced by null_text at key 0 and zeros after it (keys its bias blocks). s kept + null (1 - kept) is exact.
     */
    public PtNDArray text(PtNDArray states, DitText text, NDManager m) {
        int b = text.rows();
        int tk = text.tokens();
        int te = cfg.textEmbd();
        float[] kept = text.kept();
        float[] drop = new float[b];
        for (int r = 0; r < b; r++) {
            drop[r] = 1f - kept[r];
        }
        PtNDArray nul = Ops.reshape(nullText.value(), 1, 1, te);
        if (tk > 1) {
            nul = Ops.cat(new PtNDArray[] {nul, Ops.floats(m, new float[(tk - 1) * te], 1, tk - 1, te)}, 1);
        }
        PtNDArray s = Ops.add(Ops.mul(states, Ops.floats(m, kept, b, 1, 1)),
                Ops.mul(nul, Ops.floats(m, drop, b, 1, 1)));
        return textFc2.forward(Ops.gelu(textFc1.forward(s)));
    }

    /** The key bias [B, 1, 1, Tk] of {@code text} ({@link DitText#bias}). */
    public static PtNDArray textBias(DitText text, NDManager m) {
        return Ops.floats(m, text.bias(), text.rows(), 1, 1, text.tokens());
    }

    /** Mean squared error between the prediction and {@code target} [B, C, H, W] (the noise, or v). */
    public PtNDArray loss(PtNDArray x, long[] t, long[] labels, PtNDArray target, ForwardContext ctx) {
        return mse(forward(x, t, labels, ctx), target);
    }

    /** mean((prediction - target)^2). */
    public static PtNDArray mse(PtNDArray prediction, PtNDArray target) {
        PtNDArray diff = Ops.sub(prediction, target);
        return Ops.mean(Ops.mul(diff, diff));
    }

    /** Tokens of x [B, C, H, W]: patch embeddings plus the fixed positions, [B, T, D]. */
    public PtNDArray embed(PtNDArray x) {
        return Ops.add(patch.forward(patchify(x, cfg.patch())), positions());
    }

    /** c = time(sinusoid(t)) + label(y), [B, D]. */
    public PtNDArray condition(long[] t, long[] labels, NDManager m) {
        return Ops.add(time(t, m), label.forward(Ops.longs(m, labels, labels.length)));
    }

    /**
     * A text-conditioned DiT's c [B, D]: time(sinusoid(t)), plus text_pool of the caption memory [B, Tk, D] pooled
     * where the config pools it.
     */
    public PtNDArray textCondition(long[] t, PtNDArray memory, DitText text, NDManager m) {
        PtNDArray c = time(t, m);
        if (textPool == null) {
            return c;
        }
        float[] w = text.poolWeights(cfg.textPool() == DitConfig.TextPool.LAST);
        PtNDArray pooled = Ops.matmul(Ops.floats(m, w, text.rows(), 1, text.tokens()), memory); // [B, 1, D]
        return Ops.add(c, textPool.forward(Ops.reshape(pooled, text.rows(), cfg.nEmbd())));
    }

    /** The timestep embedding time(sinusoid(t)) [B, D]: c of a DiT without labels or a pooled caption. */
    public PtNDArray time(long[] t, NDManager m) {
        float[] freq = Sinusoids.timesteps(t, cfg.frequencies());
        PtNDArray te = Ops.floats(m, freq, t.length, cfg.frequencies());
        return timeFc2.forward(DitBlock.silu(timeFc1.forward(te)));
    }

    /** The final adaLN layer and unpatchify: tokens [B, T, D] -> [B, C, H, W]. */
    public PtNDArray output(PtNDArray h, PtNDArray c) {
        PtNDArray[] mod = DitBlock.chunks(finalModulation, c, 2);
        PtNDArray y = finalLinear.forward(finalNorm.apply(h, mod[0], mod[1]));
        return unpatchify(y, cfg.channels(), cfg.height(), cfg.width(), cfg.patch());
    }

    /** [B, C, H, W] -> [B, T, C p p], patches row-major, each flattened as (c, i, j): a conv weight's layout. */
    public static PtNDArray patchify(PtNDArray x, int p) {
        long[] s = x.getShape().getShape();
        long b = s[0];
        long c = s[1];
        long gh = s[2] / p;
        long gw = s[3] / p;
        PtNDArray g = Ops.permute(Ops.reshape(x, b, c, gh, p, gw, p), 0, 2, 4, 1, 3, 5); // [B, gh, gw, C, p, p]
        return Ops.reshape(g, b, gh * gw, c * p * p);
    }

    /** The inverse of {@link #patchify}: [B, T, C p p] -> [B, C, H, W]. */
    public static PtNDArray unpatchify(PtNDArray y, int c, int h, int w, int p) {
        long b = y.getShape().get(0);
        PtNDArray g = Ops.permute(Ops.reshape(y, b, h / p, w / p, c, p, p), 0, 3, 1, 4, 2, 5); // [B, C, gh, p, gw, p]
        return Ops.reshape(g, b, c, h, w);
    }

    /** The fixed 2-D sin-cos position table [T, D] (made once, next to the parameters). */
    public PtNDArray positions() {
        if (pos == null) {
            float[] table = Sinusoids.positions2d(cfg.nEmbd(), cfg.height() / cfg.patch(), cfg.width() / cfg.patch());
            PtNDArray p = Ops.floats(patch.weight().value().getManager(), table, cfg.tokens(), cfg.nEmbd());
            NDScope.unregister(p);
            pos = p;
        }
        return pos;
    }

    private void requireWhole() {
        for (DitBlock b : blocks) {
            if (b.mlp().fc().base().weight().sharding().kind() == Parameter.Sharding.Kind.SLICE) {
                throw new IllegalStateException("Dit.forward runs on one rank; under tensor parallelism train through "
                        + "the plan's segments");
            }
        }
    }

    private void requireText(boolean text) {
        if (cfg.textConditioned() != text) {
            throw new IllegalStateException("this DiT is " + (text ? "class" : "text") + "-conditioned");
        }
    }

    public Linear patch() {
        return patch;
    }

    public List<DitBlock> blocks() {
        return blocks;
    }

    /**
     * The parameters of the embedding side: patch, time MLP, class table (none in a text-conditioned DiT), text_pool
     * (where c reads the pooled caption).
     */
    public List<Parameter> embeddingParameters() {
        List<Parameter> out = new ArrayList<>(patch.parameters());
        out.addAll(timeFc1.parameters());
        out.addAll(timeFc2.parameters());
        if (label != null) {
            out.addAll(label.parameters());
        }
        if (textPool != null) {
            out.addAll(textPool.parameters());
        }
        return out;
    }

    /** The parameters that make the caption memory: null_text and text_proj (none in a class-conditioned DiT). */
    public List<Parameter> textParameters() {
        if (nullText == null) {
            return List.of();
        }
        List<Parameter> out = new ArrayList<>(List.of(nullText));
        out.addAll(textFc1.parameters());
        out.addAll(textFc2.parameters());
        return out;
    }

    /** The parameters of the final adaLN layer. */
    public List<Parameter> finalParameters() {
        List<Parameter> out = new ArrayList<>(finalModulation.parameters());
        out.addAll(finalLinear.parameters());
        return out;
    }
}

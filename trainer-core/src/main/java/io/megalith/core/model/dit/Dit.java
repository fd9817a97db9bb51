package io.megalith.core.model.dit;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.Embedding;
import io.megalith.core.nn.ForwardContext;
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
 * <p>One-rank code: tensor parallelism is applied from outside ({@code parallelize.DitPlan}), whose
 * {@code ParallelDit} runs the blocks as segments.
 */
public final class Dit extends Module {
    private final DitConfig cfg;
    private final Linear patch;
    private final Linear timeFc1;
    private final Linear timeFc2;
    private final Embedding label;
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
        this.label = child(new Embedding("label", cfg.classes() + 1, d, 0.02)); // + the null class
        for (int i = 0; i < cfg.nLayer(); i++) {
            blocks.add(child(new DitBlock("blocks." + i, cfg.layerSpec())));
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
        PtNDArray h = embed(x);
        PtNDArray c = condition(t, labels, ctx.manager());
        for (DitBlock block : blocks) {
            h = block.forward(h, c, ctx);
        }
        return output(h, c);
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
        float[] freq = Sinusoids.timesteps(t, cfg.frequencies());
        PtNDArray te = Ops.floats(m, freq, t.length, cfg.frequencies());
        PtNDArray time = timeFc2.forward(DitBlock.silu(timeFc1.forward(te)));
        return Ops.add(time, label.forward(Ops.longs(m, labels, labels.length)));
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

    public Linear patch() {
        return patch;
    }

    public List<DitBlock> blocks() {
        return blocks;
    }

    /** The parameters of the embedding side: patch, time MLP, class table. */
    public List<Parameter> embeddingParameters() {
        List<Parameter> out = new ArrayList<>(patch.parameters());
        out.addAll(timeFc1.parameters());
        out.addAll(timeFc2.parameters());
        out.addAll(label.parameters());
        return out;
    }

    /** The parameters of the final adaLN layer. */
    public List<Parameter> finalParameters() {
        List<Parameter> out = new ArrayList<>(finalModulation.parameters());
        out.addAll(finalLinear.parameters());
        return out;
    }
}

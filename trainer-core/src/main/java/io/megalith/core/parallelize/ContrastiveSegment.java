package io.megalith.core.parallelize;

import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.megalith.comm.Communicator;
import io.megalith.comm.ElementType;
import io.megalith.comm.ReduceOp;
import io.megalith.core.model.clip.Clip;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.nn.Parameter;
import io.megalith.core.segment.Segment;
import io.megalith.core.tensor.Ops;
import java.util.List;
import java.util.function.Function;

/**
 * CLIP's loss with global negatives over a data-parallel group, as OpenCLIP's {@code gather_with_grad}: every rank
 * holds n rows of a batch of N = n dp, and its rows' loss reads every rank's embeddings. Two autograd regions with
 * collectives between them, and its own backward:
 * <pre>
 * forward:  A  (from the text states leaf x and the image memory leaf) local = [normalize(memory), normalize(text(x))]
 *           all_gather local over dp -> [N, 2D]                 rank r's rows at [r n, (r+1) n)
 *           B  (from a leaf of the gathered embeddings) this rank's rows of the contrastive loss against all N
 * backward: B's backward from d loss / d out                     (the logit scale's gradient; d loss / d gathered)
 *           reduce_scatter (sum) the gathered gradient -> [n, 2D] every rank's loss's gradient of this rank's rows
 *           A's backward from it                                 (into x, the memory and the projections)
 * </pre>
 * With each rank's loss weighted by n / N and gradients summed over dp, the parameters' gradient is exactly that of
 * the whole batch's one-rank loss (the gather's transpose is the reduce-scatter).
 */
final class ContrastiveSegment implements Segment.Custom {
    /** The loss of rows [first, first + n) of the gathered unit embeddings images, texts [N, D]. */
    interface Loss {
        PtNDArray apply(PtNDArray images, PtNDArray texts, long first, int n, ForwardContext ctx);
    }

    private final String name;
    private final List<Parameter> parameters;
    private final Communicator dp;
    private final PtNDArray memory;
    private final Function<PtNDArray, PtNDArray> textEmbedding;
    private final Loss loss;
    private Pending pending;

    private record Pending(PtNDArray local, PtNDArray gathered, PtNDArray output) {}

    /**
     * {@code memory}: the image chain's output leaf [n, D] (projected, unnormalised); {@code textEmbedding}: the text
     * states [n, T, C] to the projected text vectors [n, D].
     */
    ContrastiveSegment(String name, List<Parameter> parameters, Communicator dp, PtNDArray memory,
            Function<PtNDArray, PtNDArray> textEmbedding, Loss loss) {
        this.name = name;
        this.parameters = parameters;
        this.dp = dp;
        this.memory = memory;
        this.textEmbedding = textEmbedding;
        this.loss = loss;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    @Override
    public PtNDArray forward(PtNDArray input, ForwardContext ctx) {
        if (pending != null) {
            throw new IllegalStateException(name + ": a forward is already pending (one micro-batch at a time)");
        }
        PtNDArray local;
        JniUtils.setGradMode(true);
        try {
            local = Ops.cat(new PtNDArray[] {Clip.normalize(memory), Clip.normalize(textEmbedding.apply(input))}, 1);
        } finally {
            JniUtils.setGradMode(false);
        }
        int n = (int) local.getShape().get(0);
        long width = local.getShape().get(1);
        PtNDArray gathered = leaf(gather(JniUtils.detachGradient(local)));
        long d = width / 2;
        PtNDArray output;
        JniUtils.setGradMode(true);
        try {
            output = loss.apply(Ops.slice(gathered, 1, 0, d), Ops.slice(gathered, 1, d, width),
                    (long) dp.rank() * n, n, ctx);
        } finally {
            JniUtils.setGradMode(false);
        }
        pending = new Pending(local, gathered, output);
        return output;
    }

    @Override
    public void discard() {
        pending = null;
    }

    @Override
    public void backward(PtNDArray upstream, ForwardContext ctx) {
        Pending p = pending;
        pending = null;
        if (p == null) {
            throw new IllegalStateException(name + ": backward without a forward");
        }
        JniUtils.backward(p.output(), upstream, false, false); // B
        PtNDArray grad = JniUtils.getGradient(p.gathered());
        PtNDArray mine = scatter(grad);
        JniUtils.backward(p.local(), mine, false, false); // A: into the text states, the memory and the projections
        if (mine != grad) {
            mine.close();
        }
        grad.close(); // a handle only: the gradient belongs to the leaf
    }

    /** Every rank's rows [n, W] in rank order: [n dp, W]. */
    private PtNDArray gather(PtNDArray rows) {
        if (dp.size() == 1) {
            return rows;
        }
        long[] s = rows.getShape().getShape();
        PtNDArray all = JniUtils.createEmptyNdArray(rows.getManager(), new Shape(s[0] * dp.size(), s[1]),
                DataType.FLOAT32, rows.getDevice(), SparseFormat.DENSE);
        dp.allGather(Ops.bytes(JniUtils.clone(rows), true), Ops.bytes(all, true), ElementType.F32);
        return all;
    }

    /** This rank's rows [n, W] of the sum over the group of gradients [n dp, W]. */
    private PtNDArray scatter(PtNDArray grad) {
        if (dp.size() == 1) {
            return grad;
        }
        long[] s = grad.getShape().getShape();
        PtNDArray mine = JniUtils.createEmptyNdArray(grad.getManager(), new Shape(s[0] / dp.size(), s[1]),
                DataType.FLOAT32, grad.getDevice(), SparseFormat.DENSE);
        dp.reduceScatter(Ops.bytes(grad, true), Ops.bytes(mine, true), ElementType.F32, ReduceOp.SUM);
        return mine;
    }

    /** A new leaf sharing x's memory, whose gradient the next backward fills. */
    private static PtNDArray leaf(PtNDArray x) {
        PtNDArray d = JniUtils.detachGradient(x);
        JniUtils.attachGradient(d, true);
        return d;
    }
}

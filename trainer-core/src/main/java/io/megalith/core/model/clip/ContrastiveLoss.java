package io.megalith.core.model.clip;

import ai.djl.pytorch.engine.PtNDArray;
import io.megalith.core.nn.ForwardContext;
import io.megalith.core.tensor.Ops;

/**
 * CLIP's symmetric InfoNCE over a batch of N matching (image, text) pairs, for the rows [first, first + n) one rank
 * owns: with unit embeddings I, T [N, D] and scale s,
 * <pre>
 *   loss = ( CE(s I[rows] T^T, first + i) + CE(s T[rows] I^T, first + i) ) / 2      each a mean over the n rows
 * </pre>
 * image i's text is the right one among all N texts, and text i's image among all N images. With n = N (one rank)
 * this is the whole batch's loss; ranks owning equal row counts and weighting theirs by n / N sum to it.
 */
public final class ContrastiveLoss {
    private ContrastiveLoss() {}

    /**
     * The loss of rows [first, first + n) of the batch's unit embeddings {@code images}, {@code texts} [N, D] under
     * {@code scale} (0-d or [1]).
     */
    public static PtNDArray of(PtNDArray images, PtNDArray texts, long first, int n, PtNDArray scale,
            ForwardContext ctx) {
        PtNDArray imageRows = Ops.slice(images, 0, first, first + n);
        PtNDArray textRows = Ops.slice(texts, 0, first, first + n);
        PtNDArray imageToText = Ops.mul(Ops.matmul(imageRows, Ops.transpose(texts, 0, 1)), scale);
        PtNDArray textToImage = Ops.mul(Ops.matmul(textRows, Ops.transpose(images, 0, 1)), scale);
        long[] targets = new long[n];
        for (int i = 0; i < n; i++) {
            targets[i] = first + i;
        }
        PtNDArray labels = Ops.longs(ctx.manager(), targets, n, 1);
        PtNDArray sum = Ops.add(Ops.crossEntropy(imageToText, labels, null, n),
                Ops.crossEntropy(textToImage, labels, null, n));
        return Ops.mul(sum, Ops.scalar(ctx.manager(), 0.5f));
    }
}

package io.megalith.core.data.captions;

/**
 * What a caption says about its canvas: one item ({@link Relation#SINGLE}, {@code second} -1), or two items and
 * where the first sits relative to the second ("a sneaker to the left of a bag": first sneaker, second bag,
 * LEFT_OF). Items are class labels of the source images. Evaluation reads it; models see only the caption.
 */
public record Composition(int first, int second, Relation relation) {
    public enum Relation { SINGLE, LEFT_OF, RIGHT_OF, ABOVE, BELOW }

    public Composition {
        if (first < 0 || (relation == Relation.SINGLE) != (second < 0)) {
            throw new IllegalArgumentException("composition " + first + " " + relation + " " + second);
        }
    }

    public static Composition single(int item) {
        return new Composition(item, -1, Relation.SINGLE);
    }

    public boolean isPair() {
        return relation != Relation.SINGLE;
    }

    /** The same two items with their places exchanged (the left/right or above/below swap); a single stays. */
    public Composition swapped() {
        return isPair() ? new Composition(second, first, relation) : this;
    }
}

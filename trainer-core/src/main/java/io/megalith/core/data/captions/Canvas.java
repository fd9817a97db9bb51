package io.megalith.core.data.captions;

import io.megalith.core.data.captions.Composition.Relation;
import io.megalith.core.data.images.ImageSet;

/**
 * The canvas of a generated set: two cells of an item's size, side by side ({@code wide}: H x 2W) or one above the
 * other (tall: 2H x W). Items are pasted at an offset along the long side (cell 0 at 0, cell 1 at the item's
 * extent); the rest is background, raw 0.
 */
record Canvas(boolean wide, int channels, int itemHeight, int itemWidth) {
    static Canvas of(String canvas, ImageSet items) {
        return new Canvas("wide".equals(canvas), items.channels(), items.height(), items.width());
    }

    int height() {
        return wide ? itemHeight : 2 * itemHeight;
    }

    int width() {
        return wide ? 2 * itemWidth : itemWidth;
    }

    int bytes() {
        return channels * height() * width();
    }

    /** An item's size along the long side: cell 1 starts there, and a single item's offset is in [0, extent]. */
    int extent() {
        return wide ? itemWidth : itemHeight;
    }

    /** The relation of the item in cell 0 to the item in cell 1 (left of / above), and its converse. */
    Relation firstCell() {
        return wide ? Relation.LEFT_OF : Relation.ABOVE;
    }

    Relation secondCell() {
        return wide ? Relation.RIGHT_OF : Relation.BELOW;
    }

    /** Pastes image {@code image} of {@code items} into the canvas at {@code out[at..]}, {@code offset} along the long side. */
    void paste(ImageSet items, int image, int offset, byte[] out, int at) {
        paste(items.pixels(), image * items.imageBytes(), offset, out, at);
    }

    /** Pastes the item of raw bytes {@code item[from ..]} (shape [c, itemHeight, itemWidth]) likewise. */
    void paste(byte[] item, int from, int offset, byte[] out, int at) {
        int dy = wide ? 0 : offset;
        int dx = wide ? offset : 0;
        for (int c = 0; c < channels; c++) {
            for (int y = 0; y < itemHeight; y++) {
                System.arraycopy(item, from + (c * itemHeight + y) * itemWidth, out,
                        at + (c * height() + y + dy) * width() + dx, itemWidth);
            }
        }
    }
}

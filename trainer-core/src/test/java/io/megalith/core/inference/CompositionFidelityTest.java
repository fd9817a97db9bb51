package io.megalith.core.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.megalith.core.data.captions.Composition;
import io.megalith.core.data.captions.Composition.Relation;
import io.megalith.core.data.images.ImageSet;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The judge's side of a text-to-image DiT's composition fidelity on hand-made canvases: cells cut left/right of a wide
 * canvas and top/bottom of a tall one, each cell's pixels exactly its item's, and the scores of both items in order,
 * each cell and swaps from predicted cell labels.
 */
class CompositionFidelityTest {
    /** A 2-channel item of 3x4 whose bytes say which item and pixel they are. */
    static byte[] item(int id) {
        byte[] out = new byte[2 * 3 * 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) (id * 32 + i);
        }
        return out;
    }

    /** Items a and b pasted into one canvas of 2 channels: side by side (3 x 8) or one above the other (6 x 4). */
    static byte[] canvas(int a, int b, boolean wide) {
        int h = wide ? 3 : 6;
        int w = wide ? 8 : 4;
        byte[] out = new byte[2 * h * w];
        int[] ids = {a, b};
        for (int cell = 0; cell < 2; cell++) {
            byte[] it = item(ids[cell]);
            for (int c = 0; c < 2; c++) {
                for (int y = 0; y < 3; y++) {
                    for (int x = 0; x < 4; x++) {
                        int cy = wide ? y : y + 3 * cell;
                        int cx = wide ? x + 4 * cell : x;
                        out[(c * h + cy) * w + cx] = it[(c * 3 + y) * 4 + x];
                    }
                }
            }
        }
        return out;
    }

    @Test
    void cellsAreTheItemsLeftAndRightOrTopAndBottom() {
        for (boolean wide : new boolean[] {true, false}) {
            byte[] two = new byte[2 * 2 * 3 * 8];
            System.arraycopy(canvas(1, 2, wide), 0, two, 0, 48);
            System.arraycopy(canvas(3, 4, wide), 0, two, 48, 48);
            ImageSet canvases = new ImageSet(two, new int[] {7, 8}, 2, wide ? 3 : 6, wide ? 8 : 4);
            ImageSet cells = CompositionFidelity.cells(canvases, 3, 4);
            assertThat(cells.size()).isEqualTo(4);
            assertThat(cells.height()).isEqualTo(3);
            assertThat(cells.width()).isEqualTo(4);
            assertThat(cells.labels()).containsExactly(7, 7, 8, 8);
            for (int i = 0; i < 4; i++) {
                assertThat(cells.slice(i, 1).pixels()).as("%s cell %d", wide ? "wide" : "tall", i)
                        .containsExactly(item(i + 1));
            }
        }
        assertThatThrownBy(() -> CompositionFidelity.cells(new ImageSet(new byte[9], new int[1], 1, 3, 3), 3, 4))
                .hasMessageContaining("neither two items of 3x4 side by side nor one above the other");
    }

    @Test
    void expectedCellsFollowTheRelation() {
        assertThat(CompositionFidelity.expected(new Composition(2, 5, Relation.LEFT_OF))).containsExactly(2, 5);
        assertThat(CompositionFidelity.expected(new Composition(2, 5, Relation.RIGHT_OF))).containsExactly(5, 2);
        assertThat(CompositionFidelity.expected(new Composition(2, 5, Relation.ABOVE))).containsExactly(2, 5);
        assertThat(CompositionFidelity.expected(new Composition(2, 5, Relation.BELOW))).containsExactly(5, 2);
        assertThatThrownBy(() -> CompositionFidelity.expected(Composition.single(1))).hasMessageContaining("single");
    }

    @Test
    void scoresBothItemsInOrderEachCellAndSwaps() {
        List<Composition> c = List.of(
                new Composition(0, 1, Relation.LEFT_OF), // want 0 | 1
                new Composition(0, 1, Relation.RIGHT_OF), // want 1 | 0
                new Composition(2, 3, Relation.LEFT_OF), // want 2 | 3
                new Composition(4, 5, Relation.BELOW)); // want 5 | 4
        int[] predicted = {
            0, 1, // right
            0, 1, // swapped
            2, 9, // cell 0 only
            5, 4}; // right
        CompositionFidelity f = CompositionFidelity.score(predicted, c);
        assertThat(f.samples()).isEqualTo(4);
        assertThat(f.both()).isEqualTo(0.5);
        assertThat(f.firstCell()).isEqualTo(0.75);
        assertThat(f.secondCell()).isEqualTo(0.5);
        assertThat(f.eachCell()).isEqualTo(5 / 8.0);
        assertThat(f.swapped()).isEqualTo(0.25);
        assertThat(f.record()).containsEntry("both_items_and_order", 0.5).containsKey("swapped");
        assertThatThrownBy(() -> CompositionFidelity.score(new int[3], c)).hasMessageContaining("3 cells for 4");
    }

    @Test
    void classNamesAreSpeltAsCaptionsSpellThem() {
        assertThat(CompositionFidelity.spell("T-shirt/top")).isEqualTo("t-shirt");
        assertThat(CompositionFidelity.spell("Ankle boot")).isEqualTo("ankle boot");
    }
}

package io.megalith.launcher.data;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** How a partition's documents are cut into contiguous pieces (no Spark needed). */
class PiecesTest {
    private static Doc line(int file, long pos, String text) {
        return new Doc(file, pos, pos + text.length() + 1, text);
    }

    @Test
    void aPieceEndsWhereTheNextDocumentDoesNotDirectlyFollow() throws Exception {
        List<Doc> docs = List.of(
                line(1, 0, "ab"), line(1, 3, "c"), line(1, 5, ""), // contiguous lines of file 1
                line(0, 0, "x"), line(0, 2, "yz"),                  // another file (packed after it by Spark)
                line(0, 10, "late"),                                 // a gap: another split of file 0
                new Doc(2, 7, 8, null), new Doc(2, 8, 9, "r"));      // rows, one without text
        List<String> pieces = Pieces.each(docs.iterator(), (key, it) -> {
            StringBuilder sb = new StringBuilder(key.file() + "@" + key.pos() + ":");
            it.forEachRemaining(d -> sb.append(d.text()).append('|'));
            return sb.toString();
        });
        assertThat(pieces).containsExactly("1@0:ab|c||", "0@0:x|yz|", "0@10:late|", "2@7:null|r|");
    }

    @Test
    void documentsAnActionLeavesAreSkippedAndKeysSortInStreamOrder() throws Exception {
        List<Doc> docs = List.of(line(3, 0, "a"), line(3, 2, "b"), line(1, 4, "c"));
        List<Pieces.Key> keys = new ArrayList<>(Pieces.each(docs.iterator(), (key, it) -> key));
        assertThat(keys).containsExactly(new Pieces.Key(3, 0), new Pieces.Key(1, 4));
        keys.sort(null);
        assertThat(keys).containsExactly(new Pieces.Key(1, 4), new Pieces.Key(3, 0));
    }
}

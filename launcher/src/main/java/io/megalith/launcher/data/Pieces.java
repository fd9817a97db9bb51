package io.megalith.launcher.data;

import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Cuts the documents of one Spark partition into pieces: maximal runs in which every document directly follows the
 * previous one in the same file ({@code pos == previous.next}). A piece is a contiguous stretch of the token stream,
 * identified by its first document's (file, position), so sorting pieces by that key puts them in stream order
 * whatever partitions Spark made. A line-based partition is one file split, hence one piece; a Parquet partition
 * may pack splits of several files, hence several pieces. Each piece becomes one shard.
 */
final class Pieces {
    private Pieces() {}

    /** Where a piece starts in the input: sorts in stream order. */
    record Key(int file, long pos) implements Comparable<Key>, Serializable {
        private static final long serialVersionUID = 1L;

        @Override
        public int compareTo(Key o) {
            return file != o.file ? Integer.compare(file, o.file) : Long.compare(pos, o.pos);
        }
    }

    /** What to do with one piece: consume (some of) its documents and return a result. */
    interface Action<R> {
        R apply(Key key, Iterator<Doc> piece) throws IOException;
    }

    /** Runs {@code action} on each piece of {@code docs}, in order; documents it does not consume are skipped. */
    static <R> List<R> each(Iterator<Doc> docs, Action<R> action) throws IOException {
        List<R> out = new ArrayList<>();
        Cursor cursor = new Cursor(docs);
        while (cursor.head != null) {
            Doc first = cursor.head;
            Iterator<Doc> piece = cursor.piece();
            out.add(action.apply(new Key(first.file(), first.pos()), piece));
            while (piece.hasNext()) {
                piece.next();
            }
        }
        return out;
    }

    /** A one-document look-ahead over the partition. */
    private static final class Cursor {
        private final Iterator<Doc> docs;
        private Doc head;

        Cursor(Iterator<Doc> docs) {
            this.docs = docs;
            advance();
        }

        private void advance() {
            head = docs.hasNext() ? docs.next() : null;
        }

        /** The documents of the piece starting at {@code head}. */
        Iterator<Doc> piece() {
            return new Iterator<>() {
                private Doc prev;

                @Override
                public boolean hasNext() {
                    return head != null && (prev == null || (head.file() == prev.file() && head.pos() == prev.next()));
                }

                @Override
                public Doc next() {
                    if (!hasNext()) {
                        throw new NoSuchElementException();
                    }
                    prev = head;
                    advance();
                    return prev;
                }
            };
        }
    }
}

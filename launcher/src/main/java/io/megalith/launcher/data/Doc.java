package io.megalith.launcher.data;

import java.io.Serializable;

/**
 * One document of the input, where it is: file {@code file} (index in {@link InputSpec#files()}) at position
 * {@code pos} (a byte offset for lines, a row number for Parquet). {@code next} is the position of the document that
 * directly follows it in the same file: a document at exactly that position continues the same stretch of the
 * stream, anything else starts a new one (see {@link Pieces}).
 *
 * @param text the document's text; null for a record without one (null or missing field, blank JSON line)
 */
record Doc(int file, long pos, long next, String text) implements Serializable {
    private static final long serialVersionUID = 1L;
}

package io.megalith.core.data.tokenizer;

import java.io.IOException;
import java.nio.file.Path;

/** Text to token ids and back. Implementations are immutable once built and safe to share. */
public interface Tokenizer extends AutoCloseable {
    /** Number of distinct ids; every id returned by {@link #encode} is in [0, vocabSize). */
    int vocabSize();

    int[] encode(String text);

    String decode(int[] ids);

    /** A short name of the kind ("char", "bpe") used in configs and saved files. */
    String kind();

    /** Writes this tokenizer as a single file that {@link Tokenizers#load(Path)} reads back. */
    void save(Path file) throws IOException;

    @Override
    default void close() {}
}

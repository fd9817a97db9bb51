package io.megalith.core.data.shards;

/** How token ids are stored in a shard file: little-endian, unsigned 16-bit when every id fits, else int32. */
public enum TokenDtype {
    /** Unsigned 16-bit: ids in [0, 65535], i.e. vocabularies of up to 65,536 tokens (GPT-2's 50,257 fits). */
    UINT16("uint16", 2),
    /** Signed 32-bit (ids are never negative): any vocabulary. */
    INT32("int32", 4);

    private final String id;
    private final int bytes;

    TokenDtype(String id, int bytes) {
        this.id = id;
        this.bytes = bytes;
    }

    /** The smallest type that holds every id of a vocabulary of {@code vocabSize} tokens. */
    public static TokenDtype forVocab(int vocabSize) {
        if (vocabSize < 1) {
            throw new IllegalArgumentException("vocabulary size " + vocabSize);
        }
        return vocabSize <= 1 << 16 ? UINT16 : INT32;
    }

    /** The name used in {@code index.json}. */
    public String id() {
        return id;
    }

    /** Bytes per token. */
    public int bytes() {
        return bytes;
    }

    public static TokenDtype of(String id) {
        for (TokenDtype t : values()) {
            if (t.id.equals(id)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown dtype '" + id + "' (uint16 or int32)");
    }
}

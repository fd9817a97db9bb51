package io.megalith.core.data.shards;

import java.io.IOException;

/**
 * A directory is not a complete, intact prepared data set: no or unreadable {@code index.json}, a file missing,
 * of the wrong size or with the wrong checksum. Other {@link IOException}s mean the file system failed.
 */
public class InvalidShardSetException extends IOException {
    private static final long serialVersionUID = 1L;

    public InvalidShardSetException(String dir, String problem) {
        super("not a valid prepared data set: " + dir + ": " + problem);
    }

    public InvalidShardSetException(String dir, String problem, Throwable cause) {
        super("not a valid prepared data set: " + dir + ": " + problem, cause);
    }
}

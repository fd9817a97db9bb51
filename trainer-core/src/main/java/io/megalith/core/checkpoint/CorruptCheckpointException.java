package io.megalith.core.checkpoint;

import java.io.IOException;

/**
 * A checkpoint file failed verification: missing, wrong size, wrong CRC32C, or unparsable. Names the
 * offending file so an operator can find it; other I/O failures (an unreachable file system) are
 * plain {@link IOException}s because retrying them may succeed.
 */
public class CorruptCheckpointException extends IOException {
    private static final long serialVersionUID = 1L;

    private final String file;

    public CorruptCheckpointException(String file, String reason) {
        this(file, reason, null);
    }

    public CorruptCheckpointException(String file, String reason, Throwable cause) {
        super(file + ": " + reason, cause);
        this.file = file;
    }

    /** The full path of the file that failed verification. */
    public String file() {
        return file;
    }
}

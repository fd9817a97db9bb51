package io.megalith.core.data.captions;

import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/** Opens the captioned images data.* describes (data.task: captions). */
public final class CaptionDatasets {
    private CaptionDatasets() {}

    /**
     * The captioned set of {@code cfg}: generated from an image set's items (data.format idx | folder, or
     * data.builtin), or read from JSONL (data.format jsonl). {@code preparedData}: the launcher's prepared source
     * images, or null to read data.path in process.
     */
    public static CaptionData open(MegalithConfig cfg, Configuration hadoop, String preparedData) throws IOException {
        throw new UnsupportedOperationException("data.task captions: not built yet (issue 18)");
    }
}

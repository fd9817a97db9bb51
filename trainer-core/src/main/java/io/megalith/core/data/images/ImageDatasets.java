package io.megalith.core.data.images;

import io.megalith.core.config.MegalithConfig;
import java.io.IOException;
import org.apache.hadoop.conf.Configuration;

/** Opens the images of a run (data.task: images) on a rank. */
public final class ImageDatasets {
    private ImageDatasets() {}

    /**
     * The run's images: the shards the launcher prepared with Spark ({@code preparedData}), or, in process without
     * them, what data.* names read directly.
     */
    public static ImageData open(MegalithConfig cfg, Configuration hadoop, String preparedData) throws IOException {
        throw new UnsupportedOperationException("data.task images: the image reader is not on this branch yet");
    }
}

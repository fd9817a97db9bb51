package io.megalith.core.data.shards;

import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.io.TempDir;

/** Streaming from a local directory (Hadoop's local file system, positional reads on a file channel). */
class StreamingShardsLocalTest extends StreamingShardsContract {
    private static final Configuration CONF = new Configuration();

    @TempDir
    Path tmp;

    @Override
    String dir(String name) {
        return tmp.resolve(name).toString();
    }

    @Override
    Configuration conf() {
        return CONF;
    }
}

package io.megalith.core.data.captions;

import static io.megalith.core.data.captions.CaptionFixtures.config;
import static io.megalith.core.data.captions.CaptionFixtures.raw;
import static io.megalith.core.data.captions.CaptionFixtures.shapes;
import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The generated set exported as JSON Lines reads back as the same pixels, captions and compositions. */
class CaptionExportTest {
    @TempDir
    Path tmp;

    @Test
    void exportThenReadBackGivesTheSameSet() throws IOException {
        for (String canvas : new String[] {"wide", "tall"}) {
            GeneratedCaptions data = shapes("data.captions.canvas=" + canvas);
            Path dir = tmp.resolve(canvas);
            CaptionExport.write(data, dir, 300, 40);
            assertThat(Files.readAllLines(dir.resolve("test.jsonl")).get(0)).contains("\"composition\":{\"first\":");
            StoredCaptions back = (StoredCaptions) CaptionDatasets.open(config("data.path=" + dir,
                    "data.format=jsonl"), new Configuration(), null);
            assertThat(back.classNames()).isEqualTo(data.classNames());
            assertThat(back.height()).isEqualTo(data.height());
            assertThat(back.width()).isEqualTo(data.width());
            assertSame(back.split(true), data.train(0, 0, 300), data);
            assertSame(back.split(false), data.heldOut(0, 40), data);
            assertThat(back.heldOut(0, 40).compositions()).isEqualTo(data.heldOut(0, 40).compositions());
        }
    }

    private static void assertSame(StoredCaptions.Split read, CaptionBatch written, CaptionData data) {
        assertThat(read.captions()).isEqualTo(written.captions());
        assertThat(read.compositions()).isEqualTo(written.compositions());
        assertThat(read.canvases().labels()).isEqualTo(written.images().labels());
        assertThat(Arrays.equals(read.canvases().pixels(), raw(written, data))).isTrue();
    }
}

/* Region decode: only the iMCU rows and columns of a JPEG that cover a box.
 *
 * A small CPython extension over libjpeg-turbo's libjpeg API (1.5 or later):
 * jpeg_skip_scanlines() steps over the rows above the box (entropy decoding only: no
 * inverse DCT, upsampling or colour conversion), jpeg_crop_scanline() limits every row to
 * the iMCU columns that cover the box, and the rows below the box are skipped the same way,
 * then the file is read on to its end marker, so a damaged file is refused whatever the box
 * (as a whole decode refuses it). Warnings ("corrupt data", "premature end") are errors.
 * The decode runs without the GIL, so threads decode in parallel.
 *
 * Built as an optional extension (setup.py): without a C compiler and the libjpeg headers
 * the package installs without it and imageops decodes the whole image instead.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

#ifndef LIBJPEG_TURBO_VERSION_NUMBER
#error "the region decoder needs libjpeg-turbo's headers (jpeg_crop_scanline, jpeg_skip_scanlines)"
#endif

/* the most rows one jpeg_read_scanlines call is offered: an iMCU row of the usual sampling
 * factors (up to 2 vertically, at full scale); a taller one only takes more calls */
#define READ_ROWS 16

struct err_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void on_error(j_common_ptr cinfo) {
    struct err_mgr *err = (struct err_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    longjmp(err->jump, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
    if (level < 0) { /* a corrupt-data warning: refused, as simplejpeg's strict mode does */
        on_error(cinfo);
    }
}

struct request {
    const unsigned char *data;
    size_t size;
    int denom, fast, x, y, w, h;
    unsigned char *out;
    size_t out_size, stride;
};

static int fail(struct jpeg_decompress_struct *cinfo, struct err_mgr *err, const char *msg) {
    snprintf(err->message, sizeof err->message, "%s", msg);
    jpeg_destroy_decompress(cinfo);
    return -1;
}

/* Rows [y, y+h) and at least columns [x, x+w) of the image scaled by 1/denom, as RGB rows of
 * `stride` bytes from out[0]; the first column written is *xoff, *width columns per row.
 * Returns 0, or -1 with err->message set. */
static int decode(const struct request *rq, struct err_mgr *err, int *xoff_out, int *width_out) {
    struct jpeg_decompress_struct cinfo;
    volatile int created = 0;
    unsigned char *volatile scratch = NULL;
    cinfo.err = jpeg_std_error(&err->pub);
    err->pub.error_exit = on_error;
    err->pub.emit_message = on_message;
    err->message[0] = 0;
    if (setjmp(err->jump)) {
        if (created) jpeg_destroy_decompress(&cinfo);
        free(scratch);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    created = 1;
    jpeg_mem_src(&cinfo, rq->data, (unsigned long)rq->size);
    jpeg_read_header(&cinfo, TRUE);
    cinfo.out_color_space = JCS_RGB;
    cinfo.scale_num = 1;
    cinfo.scale_denom = (unsigned int)rq->denom;
    cinfo.dct_method = rq->fast ? JDCT_IFAST : JDCT_ISLOW;
    cinfo.do_fancy_upsampling = rq->fast ? FALSE : TRUE;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_components != 3)
        return fail(&cinfo, err, "not decodable to RGB");
    if (rq->x < 0 || rq->y < 0 || rq->w < 1 || rq->h < 1 ||
        (JDIMENSION)(rq->x + rq->w) > cinfo.output_width ||
        (JDIMENSION)(rq->y + rq->h) > cinfo.output_height) {
        snprintf(err->message, sizeof err->message,
                 "region %dx%d at (%d, %d) is outside the %ux%u decoded image", rq->w, rq->h,
                 rq->x, rq->y, cinfo.output_width, cinfo.output_height);
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    JDIMENSION xoff = (JDIMENSION)rq->x, width = (JDIMENSION)rq->w;
    if (width < cinfo.output_width) jpeg_crop_scanline(&cinfo, &xoff, &width);
    if ((size_t)width * 3 > rq->stride ||
        (size_t)(rq->h - 1) * rq->stride + (size_t)width * 3 > rq->out_size)
        return fail(&cinfo, err, "output buffer too small for the region");
    if (rq->y > 0) jpeg_skip_scanlines(&cinfo, (JDIMENSION)rq->y);
    /* Several rows a call: asked for one at a time, the merged upsampler (4:2:0 with fast
     * upsampling) makes its two rows into a spare row and copies them out one by one
     * (jcopy_sample_rows: 8% of a loader worker's time, measured with py-spy). */
    JSAMPROW rows[READ_ROWS];
    for (int row = 0; row < rq->h;) {
        int n = rq->h - row < READ_ROWS ? rq->h - row : READ_ROWS;
        for (int k = 0; k < n; k++) rows[k] = rq->out + (size_t)(row + k) * rq->stride;
        row += (int)jpeg_read_scanlines(&cinfo, rows, (JDIMENSION)n);
    }
    /* The rest of the file: back to an iMCU row boundary first (skipping from the middle of
     * a row group trips libjpeg-turbo 2.1's merged upsampler: "premature end of data
     * segment"), then skip all but the last row (skipping to the very end returns without
     * reading) and decode that row, then read on to the end marker. */
    scratch = (unsigned char *)malloc((size_t)width * 3);
    if (scratch == NULL) return fail(&cinfo, err, "out of memory");
    JSAMPROW spare[1] = {scratch};
    JDIMENSION imcu = (JDIMENSION)cinfo.max_v_samp_factor * (JDIMENSION)cinfo.min_DCT_scaled_size;
    while (cinfo.output_scanline < cinfo.output_height && cinfo.output_scanline % imcu != 0)
        jpeg_read_scanlines(&cinfo, spare, 1);
    JDIMENSION left = cinfo.output_height - cinfo.output_scanline;
    if (left > 1) jpeg_skip_scanlines(&cinfo, left - 1);
    while (cinfo.output_scanline < cinfo.output_height) jpeg_read_scanlines(&cinfo, spare, 1);
    free(scratch);
    scratch = NULL;
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    *xoff_out = (int)xoff;
    *width_out = (int)width;
    return 0;
}

static PyObject *decode_region(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer data, out;
    struct request rq;
    Py_ssize_t stride;
    if (!PyArg_ParseTuple(args, "y*w*nipiiii", &data, &out, &stride, &rq.denom, &rq.fast, &rq.x,
                          &rq.y, &rq.w, &rq.h))
        return NULL;
    if (rq.denom != 1 && rq.denom != 2 && rq.denom != 4 && rq.denom != 8) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&out);
        return PyErr_Format(PyExc_ValueError, "denom must be 1, 2, 4 or 8, got %d", rq.denom);
    }
    if (stride < 3) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&out);
        return PyErr_Format(PyExc_ValueError, "stride must be at least 3 bytes, got %zd", stride);
    }
    rq.data = (const unsigned char *)data.buf;
    rq.size = (size_t)data.len;
    rq.out = (unsigned char *)out.buf;
    rq.out_size = (size_t)out.len;
    rq.stride = (size_t)stride;
    struct err_mgr err;
    int xoff = 0, width = 0, rc;
    Py_BEGIN_ALLOW_THREADS
    rc = decode(&rq, &err, &xoff, &width);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    if (rc != 0) return PyErr_Format(PyExc_ValueError, "%s", err.message);
    return Py_BuildValue("ii", xoff, width);
}

static PyMethodDef methods[] = {
    {"decode_region", decode_region, METH_VARARGS,
     "decode_region(data, out, stride, denom, fast, x, y, w, h) -> (xoff, width)\n\n"
     "Decode rows y..y+h-1 and at least columns x..x+w-1 of the JPEG `data` scaled by\n"
     "1/denom (1, 2, 4, 8) into the writable buffer `out` as RGB rows `stride` bytes apart.\n"
     "Returns the first decoded column and the number of columns per row. Raises ValueError\n"
     "naming libjpeg's complaint for a damaged file."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_jpegregion", "Region decode over libjpeg-turbo.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__jpegregion(void) {
    PyObject *m = PyModule_Create(&module);
    /* the libjpeg-turbo release whose headers it was built against, e.g. 2001005 for 2.1.5 */
    if (m != NULL &&
        PyModule_AddIntConstant(m, "BUILT_WITH", LIBJPEG_TURBO_VERSION_NUMBER) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

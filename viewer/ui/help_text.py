"""The in-app help: mouse, keys and display conventions (docs/keys.md says the same)."""

HELP_HTML = """
<h3>Interval — comparing visits</h3>
<p>The case opens with the latest visit beside the previous one and the baseline, every visit
drawn in the <b>reference frame</b> (by default the baseline contrast MRI; choose another in the
Registration panel). Each view shows its visit's date (or Day N), series, registration state,
plane, slice position in mm, orientation letters and a scale bar.</p>
<p>Every visit is <b>registered automatically</b> to the reference in the background as the case
opens (Cancel stops it; <b>Register all visits</b> runs it again). Check each with the
<b>checkerboard</b> (Pair: Checkerboard, the visit's view with the reference's): edges must
run straight across the square borders. Then
<b>Accept</b>, or fix it: <b>Landmarks</b> (click a point on the reference view, then the same
point on the visit's view; 3 pairs or more; residuals in mm; Apply fit) or <b>Nudge</b>.</p>
<table cellpadding="3">
<tr><td><b>Click</b></td><td>move the crosshair there: every view shows that point</td></tr>
<tr><td><b>Mouse wheel</b>, ↑/↓, Page Up/Down</td><td>next / previous slice (all views)</td></tr>
<tr><td>Home / End</td><td>first / last slice</td></tr>
<tr><td><b>Ctrl+wheel</b></td><td>zoom all views about the mouse</td></tr>
<tr><td><b>Left-drag</b></td><td>window (left/right: width) and level (up/down); linked per
modality unless <i>Link W/L</i> is off for the view</td></tr>
<tr><td><b>Right-drag</b>, middle-drag or Shift+left-drag</td><td>pan the views of that plane
(3 planes: each plane on its own; native view: right-drag zooms)</td></tr>
<tr><td>N</td><td>native view: the active view's series alone on its own grid, not resliced
(a layout button returns)</td></tr>
<tr><td>Double-click or R</td><td>reset zoom, pan and windows</td></tr>
<tr><td>A / C / S</td><td>axial / coronal / sagittal</td></tr>
<tr><td>1–5</td><td>CT presets (Brain, Subdural, Stroke, Bone, Soft tissue) on the active
view, if it is CT, and the CT views linked to it</td></tr>
<tr><td>0</td><td>automatic window (MRI: 1st–99.5th percentile of the tissue) on the active view
and the views of its modality linked to it</td></tr>
<tr><td>Ctrl+1, 2, 3, 4, 6 / Ctrl+T</td><td>layouts 1x1, 1x2, 1x3, 2x2, 2x3 / one visit in
three planes</td></tr>
<tr><td>Visit strip</td><td>click a visit, then a view (or drag it onto a view)</td></tr>
<tr><td>Double-click a series</td><td>(case list) show it in the active view, in the reference
frame</td></tr>
<tr><td>Nudge mode: arrows, Page Up/Down</td><td>shift the active view's visit 1 mm
(Shift: 5 mm)</td></tr>
<tr><td>Nudge mode: [ and ]</td><td>rotate it 1° about the crosshair (Shift: 5°)</td></tr>
<tr><td>F1</td><td>this help</td></tr>
</table>
<h3>Outlining lesions (Outlines panel)</h3>
<p>Choose a tool; a left click or drag on any view then outlines on that view's visit, in the
visit's own scanner grid, even when the view is resliced through its registration. Shift+drag
still pans; with <b>Navigate</b> (V) clicks move the crosshair again. The first stroke makes
lesion L1 if there is none; <b>Add lesion</b> starts the next one (each keeps its colour on every
visit). Strokes never change another lesion's voxels.</p>
<table cellpadding="3">
<tr><td>V / B / E</td><td>navigate / brush / eraser (round, size in mm; - and = change it;
<i>3-D</i> paints a sphere; <i>Only intensities</i> paints only voxels in a range, e.g.
enhancing)</td></tr>
<tr><td>F / P</td><td>freehand contour (drag round, release fills) / polygon (click corners,
double-click or Enter fills); <i>Cut out</i> removes instead</td></tr>
<tr><td>G</td><td>click-to-grow: click inside the enhancing tumour; a 3-D region is previewed in
yellow; the <i>Sensitivity</i> slider re-grows it live</td></tr>
<tr><td>Enter / Esc</td><td>accept / discard a preview (grow, carry forward, fill between
slices, clean-up)</td></tr>
<tr><td>Ctrl+Z / Ctrl+Shift+Z</td><td>undo / redo on the active view's visit (kept in the
case, at least 100 steps per visit)</td></tr>
<tr><td>O</td><td>show / hide outlines</td></tr>
<tr><td>Ctrl+S</td><td>save the case (outlines, lesions, undo, registrations, layout); it is
also autosaved to a recovery journal every 30 s and after each action</td></tr>
</table>
<p><b>Carry forward</b> maps the active lesion's outline from another visit through both
registrations onto the active view's visit, as a preview to accept and edit; <b>Re-fit</b>
then grows it to this visit's enhancement.</p>
<h3>Lesions over time (Response panel, bottom)</h3>
<p>Every lesion at every visit: volume (mL), the longest axial diameter and the longest
perpendicular to it (mm), their product (mm²), and its status; the sum over the target lesions
and the category per visit (CR, PR, SD, PD; "?" = preliminary, waiting for a confirmation scan)
by the chosen criteria, with the reasons in words. Click a lesion cell to go there; click a
visit's header for its reasons. Enter treatment events: they set the default baseline and the
12-week window after radiotherapy. <b>M</b> arms the caliper: drag a long axis by hand, or drag
the ends of the drawn diameters; a hand measurement replaces the automatic one. The <b>New
lesions</b> tab subtracts the previous visit and lists new enhancement to confirm or dismiss.</p>
<p>Pair modes draw two views in the first one: <b>fade</b> (slider), <b>checkerboard</b> (square
size in mm), <b>flicker</b> (two per second), <b>subtraction</b> (later minus earlier after
intensity normalisation: red brighter later, blue darker, legend in HU or IQR).</p>
<h3>Teaching (Teaching menu and tab)</h3>
<p><b>Ctrl+Shift+B</b> starts a <b>blind read</b> against the case's reference reading (the demo
ships one): the reference stays hidden. Outline and measure as usual, choose <b>your category</b>
at each visit in the Teaching tab, then <b>Submit</b> (Ctrl+Shift+Return). The feedback shows both
categories per visit with the reasons and the reference's teaching points, and per lesion and
visit Dice, HD95 (mm), volume, diameter and product differences and the lesions you missed.
<b>Show the reference outlines</b> draws them in cyan beside yours; <b>Go to the largest
disagreement</b> takes you there. <i>Export feedback (PDF)</i> is de-identified; <i>My
progress</i> lists your submitted reads.</p>
<h3>Exports (Export menu)</h3>
<p><b>The active view, annotated</b> saves the view exactly as drawn (outlines, calipers and
their values, letters, scale bar, visit and W/L) at screen size, 2x or 4x for slides;
<b>Ctrl+Shift+C</b> copies it. Teaching mode is the default for every export: no name, ID,
dates (Day N instead) or series descriptions; <i>Include patient identity</i> asks first.</p>
<h3>PACS (Case &gt; PACS, Ctrl+Shift+P)</h3>
<p>Add a server (AE title, host, port; or a DICOMweb URL) and <b>Test connection</b>; search by
patient ID, name, dates or modality; tick studies and <b>Retrieve</b>: the visits open as the
case. <b>Send to PACS</b> stores the active visit's DICOM SEG and the report on the server,
de-identified unless you included identity.</p>
<p>Images follow the radiological convention: the patient's right is on the screen's left in
axial and coronal views; anterior is up in axial views and on the left in sagittal views. The
status bar shows the value under the mouse (Hounsfield units for CT) and its position in the
reference frame and in the visit's own scanner coordinates.</p>
"""

// Bolink.pas: Delphi and Free Pascal bindings for bolink, the Bolink parking-cloud SDK library.
//
// One unit for Delphi 7, modern Delphi (Win32, Win64, Linux64) and Free Pascal 3 ({$MODE DELPHI}).
// The library is loaded at run time: BolinkLoad (or the first call) finds bolink.dll / libbolink.so
// and checks its ABI version, so a missing or outdated library gives an EBolinkError with a
// clear message instead of a program that does not start.
//
// Conventions
// * Text crosses the boundary as UTF-8: every JSON parameter and answer is a UTF8String. Modern
//   Delphi converts a string to UTF8String on assignment; Delphi 7 and FPC programs holding ANSI
//   text call UTF8Encode first (GBK bytes are refused with errcode BOLINK_ERRCODE_INVALID_UTF8).
//   PAnsiChar is used for the C strings, never PChar (which is PWideChar in modern Delphi).
// * Every answer is JSON: {"state":1|0,"errcode":N,"errmsg":"..."} plus the call's own fields.
//   Errors are answers, not exceptions; only loading the library raises EBolinkError.
// * Every import is cdecl, as bolink.h declares (on 32-bit Windows too).
// * The functions may be called from any thread.
//
// Threads and the receive handler
// * The handler runs on the SDK's own thread, one message at a time, never on the main (UI)
//   thread. It must not touch VCL/LCL controls: hand the text over with TThread.Queue or
//   TThread.Synchronize (Delphi 2010+, FPC), PostMessage with a copied string (Delphi 7), or leave
//   the handler unset and call BolinkPollMessage from a TTimer on the UI thread.
// * That thread was not started by the Pascal RTL, so BolinkLoad sets IsMultiThread := True
//   (the memory manager must lock before the first callback). With Free Pascal on Linux the
//   program must list cthreads as the first unit of its uses clause; BolinkLoad refuses to load
//   without it, because the first callback would crash.
// * An exception raised by the handler is caught here (it must never unwind into the library)
//   and passed to BolinkOnHandlerError, or written to ErrOutput when that is nil.
// * The handler may call every function here except BolinkUnInit.
//
// The library stays loaded until the process ends: unloading it while its threads run would
// crash, so there is no unload.

unit Bolink;

{$IFDEF FPC}
  {$MODE DELPHI}
  {$H+}
{$ENDIF}
{$MINENUMSIZE 4}

interface

uses
  {$IFDEF FPC}
  dynlibs,
  {$ELSE}
  {$IFDEF MSWINDOWS}
  Windows,
  {$ENDIF}
  {$ENDIF}
  SysUtils;

const
  { The oldest bolink_abi_version this unit works with. }
  BOLINK_REQUIRED_ABI = 1;

  { The library's file name; BolinkLoad also takes a full path. }
  {$IFDEF MSWINDOWS}
  BOLINK_LIBRARY = 'bolink.dll';
  {$ELSE}
  {$IFDEF DARWIN}
  BOLINK_LIBRARY = 'libbolink.dylib';
  {$ELSE}
  BOLINK_LIBRARY = 'libbolink.so';
  {$ENDIF}
  {$ENDIF}

  { errcode values, as in bolink.h. They never change; new ones are appended. }
  BOLINK_ERRCODE_OK = 0;
  BOLINK_ERRCODE_NULL_ARGUMENT = 1;
  BOLINK_ERRCODE_INVALID_UTF8 = 2;
  BOLINK_ERRCODE_MALFORMED_JSON = 3;
  BOLINK_ERRCODE_INPUT_TOO_LARGE = 4;
  BOLINK_ERRCODE_MISSING_FIELD = 5;
  BOLINK_ERRCODE_INVALID_FIELD = 6;
  BOLINK_ERRCODE_ALREADY_INITIALIZED = 7;
  BOLINK_ERRCODE_NOT_INITIALIZED = 8;
  BOLINK_ERRCODE_LINK_DOWN = 9;
  BOLINK_ERRCODE_TIMEOUT = 10;
  BOLINK_ERRCODE_REFUSED = 11;
  BOLINK_ERRCODE_IMAGE_TOO_LARGE = 12;
  BOLINK_ERRCODE_IMAGE_INVALID = 13;
  BOLINK_ERRCODE_HTTP = 14;
  BOLINK_ERRCODE_STORAGE = 15;
  BOLINK_ERRCODE_OUTBOX_FULL = 16;
  BOLINK_ERRCODE_INTERNAL = 17;
  BOLINK_ERRCODE_WRONG_THREAD = 18;
  BOLINK_ERRCODE_NETWORK = 19;

type
  { Explicit widths: Integer and Cardinal are 32 bits in every supported compiler and mode. }
  TBolinkInt32 = Integer;
  TBolinkUInt32 = Cardinal;

  { The library is missing, is not bolink, is too old, or cannot be used by this program. }
  EBolinkError = class(Exception);

  { The C callback types of bolink.h. }
  TBolinkReceiveFn = procedure(UserData: Pointer; Json: PAnsiChar); cdecl;
  TBolinkUserDataFreeFn = procedure(UserData: Pointer); cdecl;

  { Receives one downstream message on the SDK's thread. }
  TBolinkMessageEvent = procedure(const Json: UTF8String) of object;
  TBolinkMessageProc = procedure(const Json: UTF8String);

  { Told about an exception the handler raised, with the message it was handling. E is nil when
    the raised object was not an Exception. Runs on the SDK's thread; must not raise. }
  TBolinkHandlerErrorProc = procedure(E: Exception; const Json: UTF8String);

var
  { The raw C functions, set by BolinkLoad. Prefer the wrappers below: they convert the text and
    free the answers. A PAnsiChar answer from these is owned by the caller and released with
    bolink_free_string (BolinkTake does both). }
  bolink_init: function(ConfigJson: PAnsiChar): PAnsiChar; cdecl;
  bolink_uninit: function: PAnsiChar; cdecl;
  bolink_upload_in_park_order: function(Json: PAnsiChar): PAnsiChar; cdecl;
  bolink_upload_out_park_order: function(Json: PAnsiChar): PAnsiChar; cdecl;
  bolink_get_pay_status: function(Json: PAnsiChar): PAnsiChar; cdecl;
  bolink_upload_data: function(Json: PAnsiChar): PAnsiChar; cdecl;
  bolink_upload_data_sync: function(Json: PAnsiChar; TimeoutMs: TBolinkUInt32): PAnsiChar; cdecl;
  bolink_status: function: PAnsiChar; cdecl;
  bolink_set_receive_callback: function(Callback: TBolinkReceiveFn; UserData: Pointer;
    UserDataFree: TBolinkUserDataFreeFn): TBolinkInt32; cdecl;
  bolink_poll_message: function(TimeoutMs: TBolinkUInt32): PAnsiChar; cdecl;
  bolink_free_string: procedure(S: PAnsiChar); cdecl;
  bolink_version: function: PAnsiChar; cdecl;
  bolink_abi_version: function: TBolinkUInt32; cdecl;

  { Called (on the SDK's thread) when the receive handler raises; nil writes to ErrOutput. }
  BolinkOnHandlerError: TBolinkHandlerErrorProc = nil;

{ Loads the library (LibraryPath: a file name or full path; empty: BOLINK_LIBRARY on the system's
  search path) and checks that it is bolink with an ABI of at least BOLINK_REQUIRED_ABI. Does
  nothing once loaded. Raises EBolinkError with the reason when the library cannot be used. }
procedure BolinkLoad(const LibraryPath: string = '');

{ Whether BolinkLoad has succeeded. }
function BolinkLoaded: Boolean;

{ The library's version text and ABI version. Load the library on first use. }
function BolinkVersion: string;
function BolinkAbiVersion: TBolinkUInt32;

{ The SDK calls, mirroring the vendor's UploadUtil. Each loads the library on first use. }
function BolinkInit(const ConfigJson: UTF8String): UTF8String;
function BolinkUnInit: UTF8String;
function BolinkUploadInParkOrder(const Json: UTF8String): UTF8String;
function BolinkUploadOutParkOrder(const Json: UTF8String): UTF8String;
function BolinkGetPayStatus(const Json: UTF8String): UTF8String;
function BolinkUploadData(const Json: UTF8String): UTF8String;
function BolinkUploadDataSync(const Json: UTF8String; TimeoutMs: TBolinkUInt32): UTF8String;
function BolinkStatus: UTF8String;

{ Takes the next downstream message when no handler is set, waiting up to TimeoutMs (0: do not
  wait). False when there is none. Suited to a TTimer on the UI thread. }
function BolinkPollMessage(TimeoutMs: TBolinkUInt32; out Json: UTF8String): Boolean;

{ Sets the receiver of downstream messages, replacing any earlier one. The library keeps the
  handler until its last call has returned. Not from inside a handler of the same SDK. }
procedure BolinkSetReceiver(Handler: TBolinkMessageEvent);
procedure BolinkSetReceiverProc(Handler: TBolinkMessageProc);

{ Removes the handler: messages wait for BolinkPollMessage or the next handler. }
procedure BolinkClearReceiver;

{ Copies a C answer into a UTF8String and frees it with bolink_free_string. nil gives ''. }
function BolinkTake(Answer: PAnsiChar): UTF8String;

implementation

type
  {$IFDEF FPC}
  TBolinkLibHandle = TLibHandle;
  {$ELSE}
  TBolinkLibHandle = HMODULE;
  {$ENDIF}

  { What the library holds as user_data for a handler: created by BolinkSetReceiver*, disposed
    by ReleaseTrampoline after the handler's last call. }
  PBolinkReceiver = ^TBolinkReceiver;
  TBolinkReceiver = record
    Method: TBolinkMessageEvent;
    Proc: TBolinkMessageProc;
  end;

var
  LibHandle: TBolinkLibHandle = 0;

function OpenLibrary(const Path: string): TBolinkLibHandle;
begin
  {$IFDEF FPC}
  Result := LoadLibrary(Path);
  {$ELSE}
  Result := SafeLoadLibrary(Path);
  {$ENDIF}
end;

function LastLoadError: string;
begin
  {$IFDEF FPC}
  Result := GetLoadErrorStr;
  {$ELSE}
  {$IFDEF MSWINDOWS}
  Result := SysErrorMessage(GetLastError);
  {$ELSE}
  Result := 'the system loader refused it';
  {$ENDIF}
  {$ENDIF}
end;

function FindSymbol(Handle: TBolinkLibHandle; const Name: string): Pointer;
begin
  {$IFDEF FPC}
  Result := GetProcedureAddress(Handle, Name);
  {$ELSE}
  {$IFDEF MSWINDOWS}
  { Export names are ANSI; this form compiles in Delphi 7 and in Unicode Delphi alike. }
  Result := GetProcAddress(Handle, PAnsiChar(AnsiString(Name)));
  {$ELSE}
  Result := GetProcAddress(Handle, PChar(Name));
  {$ENDIF}
  {$ENDIF}
  if Result = nil then
    raise EBolinkError.CreateFmt(
      'the bolink library has no %s: it is not bolink, or older than this unit', [Name]);
end;

{$IF DEFINED(FPC) AND DEFINED(UNIX)}
procedure RequireThreadManager;
var
  Manager: TThreadManager;
begin
  { Without cthreads the RTL cannot run code on the SDK's thread. }
  GetThreadManager(Manager);
  if not Assigned(Manager.InitManager) then
    raise EBolinkError.Create('bolink calls back on its own thread: add cthreads as the first ' +
      'unit of the program''s uses clause');
end;
{$IFEND}

procedure BolinkLoad(const LibraryPath: string);
var
  Path: string;
  Handle: TBolinkLibHandle;
  Abi: TBolinkUInt32;
begin
  if LibHandle <> 0 then
    Exit;
  {$IF DEFINED(FPC) AND DEFINED(UNIX)}
  RequireThreadManager;
  {$IFEND}
  Path := LibraryPath;
  if Path = '' then
    Path := BOLINK_LIBRARY;
  Handle := OpenLibrary(Path);
  if Handle = 0 then
    raise EBolinkError.CreateFmt('cannot load the bolink library "%s": %s. Put %s next to the ' +
      'program or on the library search path (PATH on Windows, LD_LIBRARY_PATH on Linux)',
      [Path, LastLoadError, BOLINK_LIBRARY]);

  { The version is checked before anything else, so an old library is named as such. }
  @bolink_abi_version := FindSymbol(Handle, 'bolink_abi_version');
  @bolink_version := FindSymbol(Handle, 'bolink_version');
  Abi := bolink_abi_version();
  if Abi < BOLINK_REQUIRED_ABI then
    raise EBolinkError.CreateFmt('the bolink library "%s" is too old: %s has ABI %d, this ' +
      'unit needs %d or later', [Path, string(bolink_version()), Abi, BOLINK_REQUIRED_ABI]);

  @bolink_init := FindSymbol(Handle, 'bolink_init');
  @bolink_uninit := FindSymbol(Handle, 'bolink_uninit');
  @bolink_upload_in_park_order := FindSymbol(Handle, 'bolink_upload_in_park_order');
  @bolink_upload_out_park_order := FindSymbol(Handle, 'bolink_upload_out_park_order');
  @bolink_get_pay_status := FindSymbol(Handle, 'bolink_get_pay_status');
  @bolink_upload_data := FindSymbol(Handle, 'bolink_upload_data');
  @bolink_upload_data_sync := FindSymbol(Handle, 'bolink_upload_data_sync');
  @bolink_status := FindSymbol(Handle, 'bolink_status');
  @bolink_set_receive_callback := FindSymbol(Handle, 'bolink_set_receive_callback');
  @bolink_poll_message := FindSymbol(Handle, 'bolink_poll_message');
  @bolink_free_string := FindSymbol(Handle, 'bolink_free_string');

  { Callbacks arrive on a thread the RTL did not start. }
  IsMultiThread := True;
  LibHandle := Handle;
end;

function BolinkLoaded: Boolean;
begin
  Result := LibHandle <> 0;
end;

function BolinkVersion: string;
begin
  BolinkLoad;
  Result := string(bolink_version());
end;

function BolinkAbiVersion: TBolinkUInt32;
begin
  BolinkLoad;
  Result := bolink_abi_version();
end;

{ Copies a NUL-terminated UTF-8 string byte for byte: assigning a PAnsiChar to a UTF8String
  would convert it from the ANSI code page in modern Delphi and FPC. }
function CopyUtf8(Text: PAnsiChar): UTF8String;
var
  Count: Integer;
begin
  Result := '';
  if Text = nil then
    Exit;
  Count := 0;
  while Text[Count] <> #0 do
    Inc(Count);
  SetLength(Result, Count);
  if Count > 0 then
    Move(Text^, Result[1], Count);
end;

function BolinkTake(Answer: PAnsiChar): UTF8String;
begin
  try
    Result := CopyUtf8(Answer);
  finally
    if Answer <> nil then
      bolink_free_string(Answer);
  end;
end;

function BolinkInit(const ConfigJson: UTF8String): UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_init(PAnsiChar(ConfigJson)));
end;

function BolinkUnInit: UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_uninit());
end;

function BolinkUploadInParkOrder(const Json: UTF8String): UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_upload_in_park_order(PAnsiChar(Json)));
end;

function BolinkUploadOutParkOrder(const Json: UTF8String): UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_upload_out_park_order(PAnsiChar(Json)));
end;

function BolinkGetPayStatus(const Json: UTF8String): UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_get_pay_status(PAnsiChar(Json)));
end;

function BolinkUploadData(const Json: UTF8String): UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_upload_data(PAnsiChar(Json)));
end;

function BolinkUploadDataSync(const Json: UTF8String; TimeoutMs: TBolinkUInt32): UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_upload_data_sync(PAnsiChar(Json), TimeoutMs));
end;

function BolinkStatus: UTF8String;
begin
  BolinkLoad;
  Result := BolinkTake(bolink_status());
end;

function BolinkPollMessage(TimeoutMs: TBolinkUInt32; out Json: UTF8String): Boolean;
var
  Message: PAnsiChar;
begin
  BolinkLoad;
  Message := bolink_poll_message(TimeoutMs);
  Result := Message <> nil;
  Json := BolinkTake(Message);
end;

procedure ReportHandlerError(E: Exception; const Json: UTF8String);
begin
  try
    if Assigned(BolinkOnHandlerError) then
      BolinkOnHandlerError(E, Json)
    else if E <> nil then
      WriteLn(ErrOutput, 'bolink: the receive handler raised ', E.ClassName, ': ', E.Message)
    else
      WriteLn(ErrOutput, 'bolink: the receive handler raised an object that is not an Exception');
  except
    { Nothing may unwind into the library's thread; a GUI program may have no ErrOutput. }
  end;
end;

procedure ReceiveTrampoline(UserData: Pointer; Json: PAnsiChar); cdecl;
var
  Receiver: PBolinkReceiver;
  Text: UTF8String;
begin
  Text := '';
  try
    Text := CopyUtf8(Json);
    Receiver := PBolinkReceiver(UserData);
    if Assigned(Receiver^.Method) then
      Receiver^.Method(Text)
    else if Assigned(Receiver^.Proc) then
      Receiver^.Proc(Text);
  except
    on E: Exception do
      ReportHandlerError(E, Text);
  else
    ReportHandlerError(nil, Text);
  end;
end;

procedure ReleaseTrampoline(UserData: Pointer); cdecl;
begin
  try
    Dispose(PBolinkReceiver(UserData));
  except
    { Never unwind into the library. }
  end;
end;

procedure InstallReceiver(Receiver: PBolinkReceiver);
begin
  { The library owns Receiver from here on and disposes of it through ReleaseTrampoline. }
  bolink_set_receive_callback(ReceiveTrampoline, Receiver, ReleaseTrampoline);
end;

procedure BolinkSetReceiver(Handler: TBolinkMessageEvent);
var
  Receiver: PBolinkReceiver;
begin
  BolinkLoad;
  if not Assigned(Handler) then
  begin
    BolinkClearReceiver;
    Exit;
  end;
  New(Receiver);
  Receiver^.Method := Handler;
  Receiver^.Proc := nil;
  InstallReceiver(Receiver);
end;

procedure BolinkSetReceiverProc(Handler: TBolinkMessageProc);
var
  Receiver: PBolinkReceiver;
begin
  BolinkLoad;
  if not Assigned(Handler) then
  begin
    BolinkClearReceiver;
    Exit;
  end;
  New(Receiver);
  Receiver^.Method := nil;
  Receiver^.Proc := Handler;
  InstallReceiver(Receiver);
end;

procedure BolinkClearReceiver;
begin
  BolinkLoad;
  bolink_set_receive_callback(nil, nil, nil);
end;

end.
